"""``manage.py syncworker``: an RQ worker on every pair's queue and ``default``."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connections
from rq.logutils import setup_loghandlers

from clarity.models import IntegrationPair
from clarity.sync.queues import get_queue, queue_names
from clarity.worker import JSONWorker


class Command(BaseCommand):
    help = "Run an RQ worker for all integration pairs (their own queues) and the default queue."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--with-scheduler", action="store_true", help="run RQ's scheduler")
        parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
        parser.add_argument("--pair", type=int, action="append", help="only these pairs' queues")

    def handle(self, *args: object, with_scheduler: bool, burst: bool, pair: list[int] | None,
               **options: object) -> None:  # fmt: skip
        pairs = pair or list(IntegrationPair.objects.values_list("pk", flat=True))
        queues = [get_queue(name) for name in queue_names(pairs)]
        setup_loghandlers("INFO")
        connections.close_all()  # never share a DB socket with the forked work horse
        worker = JSONWorker(queues, connection=queues[0].connection, follow_new_pairs=not pair)
        worker.work(with_scheduler=with_scheduler, burst=burst)
