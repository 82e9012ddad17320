"""Housekeeping the sweeper does between jobs: alerts now, the ledger prune when due.

``maintenance_tick`` is what the sweeper calls (at most once per sweep interval
across workers): it checks alerts right there — a few indexed queries — and, at
most once per ``CLARITY_PRUNE_SECONDS`` (an hour by default), enqueues the
ledger prune as a job of its own so a long first prune never holds up the
sweep. It never raises: housekeeping must not stop the sweep.
"""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

from clarity.services.alerts import alerts_check
from clarity.sync.queues import DEFAULT_QUEUE, enqueue

logger = logging.getLogger(__name__)

PRUNE_LOCK = "clarity:prune:lock"


def maintenance_tick() -> dict[str, int]:
    """Alerts now, the prune when due; returns what it did (for the sweep's log line)."""
    done = {"alerts_opened": 0, "alerts_resolved": 0, "prune_enqueued": 0}
    try:
        result = alerts_check()
        done["alerts_opened"], done["alerts_resolved"] = result["opened"], result["resolved"]
    except Exception:
        logger.exception("alerts check failed; the next sweep tries again")
    try:
        every = int(getattr(settings, "CLARITY_PRUNE_SECONDS", 3600))
        redis = django_rq.get_connection(DEFAULT_QUEUE)
        if redis.set(PRUNE_LOCK, "1", nx=True, ex=max(1, every)):
            enqueue(DEFAULT_QUEUE, "clarity.jobs_maintenance.prune_ledger")
            done["prune_enqueued"] = 1
    except RedisError:
        logger.exception("could not schedule the ledger prune; the next sweep tries again")
    return done
