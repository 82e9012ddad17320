"""The sync core's models, one module per concept."""

from clarity.models.alerts import Alert, AlertKind, AlertRule
from clarity.models.audit import AuditEvent
from clarity.models.flows import Flow, ReadMode, SourceOfTruth
from clarity.models.health import HealthDashboard, LedgerHourlyCount
from clarity.models.ledger import ErrorKind, RecordStatus, SyncRecord
from clarity.models.matching import Decision, MatchBy, MatchDecision, MatchingRule, MatchOutcome
from clarity.models.pairs import IntegrationPair
from clarity.models.reconciliation import (
    FindingKind,
    Period,
    ReconciliationFinding,
    ReconciliationRun,
    ReconciliationSchedule,
    ReconciliationSetting,
    ReconciliationStatus,
    ReconciliationTrigger,
)
from clarity.models.runs import RunStatus, SyncRun, Trigger
from clarity.models.scans import SourceHash
from clarity.models.subscribers import SubscriberPosition, SubscriberState, SubscriberStatus
from clarity.models.validation import (
    SincePrevious,
    ValidateOutcome,
    ValidateRecord,
    ValidateRun,
    ValidateStatus,
)
from clarity.models.webhooks import WebhookEvent, WebhookStatus

__all__ = [
    "Alert",
    "AlertKind",
    "AlertRule",
    "AuditEvent",
    "Decision",
    "ErrorKind",
    "FindingKind",
    "Flow",
    "HealthDashboard",
    "IntegrationPair",
    "LedgerHourlyCount",
    "MatchBy",
    "MatchDecision",
    "MatchOutcome",
    "MatchingRule",
    "Period",
    "ReadMode",
    "ReconciliationFinding",
    "ReconciliationRun",
    "ReconciliationSchedule",
    "ReconciliationSetting",
    "ReconciliationStatus",
    "ReconciliationTrigger",
    "RecordStatus",
    "RunStatus",
    "SincePrevious",
    "SourceHash",
    "SourceOfTruth",
    "SubscriberPosition",
    "SubscriberState",
    "SubscriberStatus",
    "SyncRecord",
    "SyncRun",
    "Trigger",
    "ValidateOutcome",
    "ValidateRecord",
    "ValidateRun",
    "ValidateStatus",
    "WebhookEvent",
    "WebhookStatus",
]
