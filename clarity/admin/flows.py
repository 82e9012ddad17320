from django.contrib import admin

from clarity.models import Flow


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "pair",
        "source_connection",
        "source_entity",
        "target_connection",
        "target_entity",
        "schedule_cron",
        "enabled",
    )
    list_filter = ("pair", "enabled", "trigger_schedule", "trigger_webhook")
    list_select_related = ("pair", "source_connection", "target_connection")
    search_fields = ("name", "source_entity", "target_entity")
    autocomplete_fields = ("mapping",)
    fieldsets = (
        (None, {"fields": ("pair", "name", "enabled")}),
        (
            "What moves",
            {
                "fields": (
                    ("source_connection", "source_entity"),
                    ("target_connection", "target_entity"),
                    "mapping",
                    "source_of_truth",
                    "business_key_field",
                    "batch_size",
                )
            },
        ),
        (
            "When it runs",
            {"fields": ("trigger_manual", "trigger_schedule", "schedule_cron", "trigger_webhook")},
        ),
        ("Progress", {"fields": ("cursor",)}),
    )
