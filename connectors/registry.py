"""Which systems Clarity connects to: system name -> its connector class and factory.

Adding a system is adding a package under ``connectors/`` (connector, auth,
catalogue, errors, ...) and one entry here: its connector class, the factory
``connectors.factory`` builds from what the system declares it shares (limits and
their scope), and its error table of ``connectors.errors`` rules. ``connectors.configs``
and the conformance tests then pick it up. Plain Python: no Django.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from connectors.base import Connector
from connectors.dependencies import Dependency
from connectors.duplicates import Duplicates
from connectors.errors import ConnectorError, ErrorKind, ErrorRule, table_kinds
from connectors.kashflow import KashFlowConnector, kashflow_connector
from connectors.kashflow.errors import ERROR_RULES as KASHFLOW_ERROR_RULES
from connectors.salesforce import SalesforceConnector, salesforce_connector
from connectors.salesforce.errors import ERROR_RULES as SALESFORCE_ERROR_RULES
from connectors.salesforce.subscriber import pubsub_stream
from connectors.streams import EventStream
from connectors.syspro import SysproConnector, syspro_connector
from connectors.syspro.errors import ERROR_RULES as SYSPRO_ERROR_RULES
from connectors.webhooks import Subscriber, WebhookParser
from connectors.xero import XeroConnector, xero_connector
from connectors.xero.errors import ERROR_RULES as XERO_ERROR_RULES


@dataclass(frozen=True)
class SystemEntry:
    """One system: its connector class, the factory ``(config, tokens, *, redis)`` that
    builds it with the limiter and circuit breaker its workers share, and its error table
    (rules of the one shape of ``connectors.errors``); ``event_stream`` builds, from a
    connector and the connection as a ``Subscriber``, the event stream a long-running
    process subscribes to (None: the system has none)."""

    connector: type[Connector]
    factory: Callable[..., Connector]
    error_rules: tuple[ErrorRule, ...]
    event_stream: Callable[[Connector, Subscriber], EventStream] | None = None

    @property
    def name(self) -> str:
        return self.connector.system

    @property
    def error_kinds(self) -> Mapping[str, ErrorKind]:
        """The kind of each code the error table gives."""
        return table_kinds(self.error_rules)


SYSTEMS: dict[str, SystemEntry] = {
    entry.name: entry
    for entry in (
        SystemEntry(XeroConnector, xero_connector, XERO_ERROR_RULES),
        SystemEntry(SysproConnector, syspro_connector, SYSPRO_ERROR_RULES),
        SystemEntry(KashFlowConnector, kashflow_connector, KASHFLOW_ERROR_RULES),
        SystemEntry(
            SalesforceConnector, salesforce_connector, SALESFORCE_ERROR_RULES, pubsub_stream
        ),
    )
}


def system_entry(name: str) -> SystemEntry:
    """The registered system called ``name``; a ConnectorError of kind config if none is."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ConnectorError(
            ErrorKind.CONFIG,
            "unknown_system",
            f"Clarity has no connector for the system '{name}'. Choose one of: "
            f"{', '.join(SYSTEMS)}.",
        ) from None


def webhook_parser(name: str) -> WebhookParser | None:
    """How the registered system ``name`` posts its webhooks; None when it sends none."""
    entry = SYSTEMS.get(name)
    return entry.connector.webhooks if entry is not None else None


def event_stream(
    name: str,
) -> Callable[[Connector, Subscriber], EventStream] | None:
    """How to open the registered system's event stream; None when it has none."""
    entry = SYSTEMS.get(name)
    return entry.event_stream if entry is not None else None


def dependencies_of(name: str) -> Mapping[str, Dependency]:
    """The registered system's error codes that mean a referenced record is missing there."""
    entry = SYSTEMS.get(name)
    return entry.connector.dependencies if entry is not None else {}


def duplicates_of(name: str) -> Duplicates:
    """The registered system's error codes that mean the record already exists there."""
    entry = SYSTEMS.get(name)
    return entry.connector.duplicates if entry is not None else {}
