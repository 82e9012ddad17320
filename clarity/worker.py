"""The RQ worker: JSON job data, every pair's queue, and the sweeper between jobs.

django-rq's ``rqworker`` passes its own default serializer (pickle) unless told
otherwise, so the worker class insists on JSON whatever it is handed. Between
jobs each worker runs the sweeper (at most once per interval across workers);
a worker started by ``manage.py syncworker`` also starts listening on the
queues of pairs created since it started.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connections
from rq import Worker
from rq.serializers import JSONSerializer

from clarity.models import IntegrationPair
from clarity.services.sweeper import sweep
from clarity.sync.queues import get_queue, queue_names

logger = logging.getLogger(__name__)

SWEEP_LOCK = "clarity:sweep:lock"


class JSONWorker(Worker):
    def __init__(self, *args: Any, follow_new_pairs: bool = False, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("maintenance_interval", settings.CLARITY_SWEEP_SECONDS)
        super().__init__(*args, **kwargs)
        self.follow_new_pairs = follow_new_pairs

    def subscribe(self) -> None:
        """RQ's command channel, read by a thread that wakes at least every second.

        Why: RQ starts that thread with a 60 s read timeout, and since redis-py
        8.2 stopping it waits for the read to end, so every worker's exit (each
        burst of the tests, each Ctrl-C of the demo) took up to a minute.
        """
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    @property
    def dequeue_timeout(self) -> int:
        """Wake up at least once per sweep interval, even with nothing queued.

        Why: RQ blocks on an empty queue for ``worker_ttl - 15`` s (405 s by
        default) and runs maintenance only between waits, so an idle worker —
        the very one that should pick up a killed worker's run — swept every
        seven minutes instead of every CLARITY_SWEEP_SECONDS.
        """
        return max(1, min(super().dequeue_timeout, int(self.maintenance_interval)))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            if self.follow_new_pairs:
                self._listen_to_new_pairs()
            interval = max(1, int(self.maintenance_interval) - 1)
            if self.connection.set(SWEEP_LOCK, self.name, nx=True, ex=interval):
                logger.info("sweep: %s", sweep())
        except Exception:
            logger.exception("sweep failed; the next interval tries again")
        finally:
            # The work horse is forked from this process: it must not share our DB socket.
            connections.close_all()

    def _listen_to_new_pairs(self) -> None:
        listening = {q.name for q in self.queues}
        wanted = queue_names(IntegrationPair.objects.values_list("pk", flat=True))
        new = [name for name in wanted if name not in listening]
        if new:
            self.queues.extend(get_queue(name) for name in new)
            self._ordered_queues = self.queues[:]
            logger.info("now also listening on %s", ", ".join(new))
