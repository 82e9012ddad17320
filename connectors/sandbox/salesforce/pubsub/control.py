"""The Pub/Sub API's part of the Salesforce sandbox's control API, and a client for it.

``GET /_sandbox/pubsub`` — where the gRPC server listens (``endpoint``, what a sandbox
connection's ``pubsub_endpoint`` defaults to), its topics, retention, keepalive and the
stream's tip. The rest put on the bus what a test cannot cause through the REST API:

* ``POST /_sandbox/pubsub/gap {"object", "record_ids", "change_type"}`` — a gap event
  (``GAP_UPDATE`` unless ``change_type`` says CREATE, DELETE or UNDELETE);
* ``POST /_sandbox/pubsub/overflow {"object"}`` — an overflow event (``GAP_OVERFLOW``);
* ``POST /_sandbox/pubsub/event {"name": "Order_Shipped__e", "values": {...}}`` — a
  platform event on ``/event/<name>``;
* ``POST /_sandbox/pubsub/undelete {"ids": [...]}`` — records restored from the recycle
  bin, as a user restores them in Setup (the REST API has no undelete [P]), which
  publishes ``UNDELETE`` change events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import HttpError, Request, Response, json_response
from connectors.sandbox.salesforce.pubsub.stream import (
    ALL_CHANGE_EVENTS,
    change_channel,
    replay_bytes,
)
from connectors.sandbox.salesforce.schema import Transaction, canonical_id, sf_datetime

if TYPE_CHECKING:  # the app imports this module
    from connectors.sandbox.salesforce.app import SalesforceApp

GAP_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")


def _refuse(message: str) -> HttpError:
    return HttpError(json_response({"error": message}, 400))


def add_routes(app: SalesforceApp) -> None:
    """The routes above, on the Salesforce sandbox ``app``."""

    def status(request: Request) -> Response:
        log = app.event_log
        bus = app.pubsub_bus
        return json_response(
            {
                "endpoint": app.pubsub_endpoint,
                "topics": [
                    ALL_CHANGE_EVENTS,
                    *(change_channel(s) for s in bus.cdc_entities()),
                    *log.topic_schemas,
                ],
                "retention_seconds": bus.retention(),
                "keepalive_seconds": float(app.option("pubsub_keepalive_seconds", 270)),
                "latest_replay_id": replay_bytes(log.last_position).hex(),
                "retained_events": len(log.events),
            }
        )

    def _object(body: dict[str, Any]) -> str:
        sobject = str(body.get("object", ""))
        if sobject not in app.pubsub_bus.cdc_entities():
            raise _refuse(f"{sobject!r} is not selected for Change Data Capture")
        return sobject

    def gap(request: Request) -> Response:
        body = request.json() or {}
        sobject = _object(body)
        ids = body.get("record_ids")
        change_type = str(body.get("change_type", "UPDATE")).upper()
        if not isinstance(ids, list) or not ids or change_type not in GAP_TYPES:
            raise _refuse(f"record_ids must list ids; change_type one of {list(GAP_TYPES)}")
        position = app.pubsub_bus.publish_gap(
            sobject, [canonical_id(str(i)) or str(i) for i in ids], change_type, _user(app)
        )
        return json_response({"replay_id": replay_bytes(position).hex()})

    def overflow(request: Request) -> Response:
        sobject = _object(request.json() or {})
        position = app.pubsub_bus.publish_gap(sobject, [], "OVERFLOW", _user(app))
        return json_response({"replay_id": replay_bytes(position).hex()})

    def platform_event(request: Request) -> Response:
        body = request.json() or {}
        name, values = str(body.get("name", "")), body.get("values") or {}
        if not name.endswith("__e") or not isinstance(values, dict):
            raise _refuse("name must be a platform event (…__e) and values an object")
        position = app.pubsub_bus.publish_platform_event(name, values, _user(app))
        return json_response({"replay_id": replay_bytes(position).hex()})

    def undelete(request: Request) -> Response:
        ids = (request.json() or {}).get("ids")
        if not isinstance(ids, list) or not ids:
            raise _refuse("ids must list records in the recycle bin")
        tx = Transaction(snapshot={}, origin="")
        user_id = _user(app)
        restored = []
        for given in ids:
            record_id = canonical_id(str(given)) or str(given)
            sobject = app.deleted_type(record_id)
            if sobject is None:
                raise _refuse(f"{given} is not in the recycle bin")
            now = sf_datetime(app.now())
            record = {
                **app.recycle_bin[sobject].pop(record_id),
                "IsDeleted": False,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
            }
            app.data[sobject][record_id] = record
            app.announce(tx, sobject, record, None, user_id)
            tx.events[-1]["payload"]["ChangeEventHeader"]["changeType"] = "UNDELETE"
            restored.append(record_id)
        app.commit(tx)
        return json_response({"restored": restored})

    app.route("GET", "/_sandbox/pubsub", status)
    app.route("POST", "/_sandbox/pubsub/gap", gap)
    app.route("POST", "/_sandbox/pubsub/overflow", overflow)
    app.route("POST", "/_sandbox/pubsub/event", platform_event)
    app.route("POST", "/_sandbox/pubsub/undelete", undelete)


def _user(app: SalesforceApp) -> str:
    """The user control-API events are committed by: the org's first user."""
    return str(next(iter(app.users.values()))["id"])


class PubSubControl(SandboxControl):
    """``SandboxControl`` plus the Pub/Sub routes, for tests, benchmarks and demos."""

    def pubsub(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "pubsub")
        return result

    def endpoint(self) -> str:
        return str(self.pubsub()["endpoint"])

    def gap(self, sobject: str, record_ids: list[str], change_type: str = "UPDATE") -> str:
        body = {"object": sobject, "record_ids": record_ids, "change_type": change_type}
        return str(self._call("POST", "pubsub/gap", body)["replay_id"])

    def overflow(self, sobject: str) -> str:
        return str(self._call("POST", "pubsub/overflow", {"object": sobject})["replay_id"])

    def platform_event(self, name: str, values: dict[str, Any]) -> str:
        body = {"name": name, "values": values}
        return str(self._call("POST", "pubsub/event", body)["replay_id"])

    def undelete(self, ids: list[str]) -> list[str]:
        return list(self._call("POST", "pubsub/undelete", {"ids": ids})["restored"])
