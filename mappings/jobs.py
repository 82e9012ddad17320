"""RQ entry points: thin, JSON-safe arguments (ids and flags) only."""

from __future__ import annotations

from mappings import services


def lookup_import_job(import_job_id: int, confirm: bool) -> str:
    """Check (``confirm=False``) or import a stored lookup file; returns the new status."""
    return services.import_job_process(job_id=import_job_id, confirm=confirm).status
