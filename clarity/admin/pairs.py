from django.contrib import admin

from clarity.models import IntegrationPair


@admin.register(IntegrationPair)
class IntegrationPairAdmin(admin.ModelAdmin):
    list_display = ("name", "connection_a", "connection_b", "active")
    list_filter = ("active",)
    list_select_related = ("connection_a", "connection_b")
    search_fields = ("name",)
