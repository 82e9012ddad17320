"""The sync core's models, one module per concept."""

from clarity.models.audit import AuditEvent
from clarity.models.flows import Flow, SourceOfTruth
from clarity.models.ledger import ErrorKind, RecordStatus, SyncRecord
from clarity.models.pairs import IntegrationPair
from clarity.models.runs import RunStatus, SyncRun, Trigger

__all__ = [
    "AuditEvent",
    "ErrorKind",
    "Flow",
    "IntegrationPair",
    "RecordStatus",
    "RunStatus",
    "SourceOfTruth",
    "SyncRecord",
    "SyncRun",
    "Trigger",
]
