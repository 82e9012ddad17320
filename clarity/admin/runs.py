from django.contrib import admin

from clarity.models import SyncRun
from clarity.pagination import EstimatedCountPaginator


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "flow",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "total_count",
        "succeeded_count",
        "skipped_count",
        "failed_count",
    )
    list_filter = ("status", "trigger")
    list_select_related = ("flow__pair",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
