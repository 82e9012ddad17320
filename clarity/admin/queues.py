"""The RQ dashboard, for operators only, listing every queue the flows run on.

django-rq's views check nothing but ``is_staff``, and finance users are staff:
left alone, they could requeue or delete jobs. Every dashboard URL is wrapped
here so only superusers and holders of ``clarity.operate_queues`` get in.

django-rq lists only the queues named in ``settings.RQ_QUEUES``, read on each
request, while each integration pair has a queue of its own (``pair-<id>``)
made when the pair is. So before each dashboard page, the pairs' queues (and
any ``pair-*`` queue Redis still knows, e.g. of a deleted pair with jobs left)
are added to it, with the default queue's connection: the workers need no
change, and a new pair shows up on the next page load.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard
from redis.exceptions import RedisError
from rq import Queue

from clarity.models import IntegrationPair
from clarity.sync.queues import DEFAULT_QUEUE, get_queue, pair_queue_name


def can_operate_queues(user: Any) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm("clarity.operate_queues")))


def rq_queues_register() -> list[str]:
    """Add every pair's queue to ``settings.RQ_QUEUES`` for django-rq's pages; returns the names."""
    names = {pair_queue_name(pk) for pk in IntegrationPair.objects.values_list("pk", flat=True)}
    try:
        connection = get_queue(DEFAULT_QUEUE).connection
        names |= {q.name for q in Queue.all(connection=connection) if q.name.startswith("pair-")}
    except RedisError:
        pass  # the dashboard itself says Redis cannot be reached
    config = settings.RQ_QUEUES[DEFAULT_QUEUE]
    for name in names:
        settings.RQ_QUEUES.setdefault(name, dict(config))
    return sorted(settings.RQ_QUEUES)


def _operators_only(view: Any) -> Any:
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not can_operate_queues(request.user):
            raise PermissionDenied
        rq_queues_register()
        return view(request, *args, **kwargs)

    return guarded


class OperatorQueueAdmin(QueueAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_operate_queues(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_operate_queues(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_operate_queues(request.user)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        rq_queues_register()
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        urls = super().get_urls()
        for pattern in urls:
            pattern.callback = _operators_only(pattern.callback)
        return urls


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
admin.site.register(Dashboard, OperatorQueueAdmin)
