"""The RQ dashboard, for operators only.

django-rq's views check nothing but ``is_staff``, and finance users are staff:
left alone, they could requeue or delete jobs. Every dashboard URL is wrapped
here so only superusers and holders of ``clarity.operate_queues`` get in.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard


def can_operate_queues(user: Any) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm("clarity.operate_queues")))


def _operators_only(view: Any) -> Any:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not can_operate_queues(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


class OperatorQueueAdmin(QueueAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_operate_queues(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_operate_queues(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_operate_queues(request.user)

    def get_urls(self) -> list[Any]:
        urls = super().get_urls()
        for pattern in urls:
            pattern.callback = _operators_only(pattern.callback)
        return urls


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
admin.site.register(Dashboard, OperatorQueueAdmin)
