"""The sync core: read changes, write the ledger first, transform, load, record outcomes.

Plain functions over the models; RQ jobs (clarity/jobs.py) and the admin are
thin entry points into them. PostgreSQL holds the truth — the ledger rows and
the flow's cursor — and RQ is only the doorbell (see sweeper.py).
"""
