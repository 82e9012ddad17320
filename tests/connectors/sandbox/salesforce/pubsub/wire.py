"""Talking to the Salesforce sandbox over the wire: its REST API signed in, its control
API, and real gRPC subscriptions made with the stubs generated from Salesforce's proto."""

from __future__ import annotations

import io
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import fastavro
import grpc
import requests

from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
from connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY, ORG_ID
from connectors.sandbox.salesforce.pubsub.control import PubSubControl

V = "/services/data/v62.0"
KEEPALIVE = 0.3
RETENTION = 3600.0
CLIENT = "clarity-test"


def sign_in(url: str) -> tuple[requests.Session, dict[str, Any]]:
    token = requests.post(
        f"{url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.headers["Sforce-Call-Options"] = f"client={CLIENT}"
    return session, token


class Org:
    """The sandbox's REST API signed in, its control API, and its Pub/Sub API."""

    def __init__(self, server: SandboxServer) -> None:
        self.url = server.url
        self.rest, self.token = sign_in(server.url)
        self.control = PubSubControl(server.url)
        self.channel = grpc.insecure_channel(self.control.endpoint())
        self.stub = pb2_grpc.PubSubStub(self.channel)

    def metadata(self, **override: str) -> tuple[tuple[str, str], ...]:
        values = {
            "accesstoken": self.token["access_token"],
            "instanceurl": self.token["instance_url"],
            "tenantid": ORG_ID,
            **override,
        }
        return tuple((k, v) for k, v in values.items() if v is not None)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.rest.request(method, f"{self.url}{V}{path}", timeout=10, **kwargs)
        assert response.status_code < 400, response.text
        return response

    def first_id(self, sobject: str) -> str:
        soql = f"SELECT Id FROM {sobject} LIMIT 1"  # noqa: S608 (a test names its sObject)
        rows = self.call("GET", "/query", params={"q": soql})
        return str(rows.json()["records"][0]["Id"])

    def schema(self, schema_id: str) -> dict[str, Any]:
        info = self.stub.GetSchema(pb2.SchemaRequest(schema_id=schema_id), metadata=self.metadata())
        parsed: dict[str, Any] = json.loads(info.schema_json)
        return parsed

    def decode(self, event: pb2.ConsumerEvent) -> dict[str, Any]:
        """The event's payload read with fastavro and the schema GetSchema serves for it."""
        schema = fastavro.parse_schema(self.schema(event.event.schema_id))
        record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(event.event.payload), schema)
        return record

    def subscribe(self, topic: str, num_requested: int = 100, **first: Any) -> Stream:
        return Stream(self, topic, num_requested, first)


class Stream:
    """A ``Subscribe`` call: requests go in through a queue, answers come out of another."""

    def __init__(self, org: Org, topic: str, num_requested: int, first: dict[str, Any]) -> None:
        self.requests: queue.Queue[pb2.FetchRequest | None] = queue.Queue()
        self.answers: queue.Queue[pb2.FetchResponse | grpc.RpcError] = queue.Queue()
        metadata = first.pop("metadata", None) or org.metadata()
        self.requests.put(pb2.FetchRequest(topic_name=topic, num_requested=num_requested, **first))
        self.call = org.stub.Subscribe(self._requests(), metadata=metadata)
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self) -> Iterator[pb2.FetchRequest]:
        while (request := self.requests.get()) is not None:
            yield request

    def _read(self) -> None:
        try:
            for answer in self.call:
                self.answers.put(answer)
        except grpc.RpcError as exc:
            self.answers.put(exc)

    def ask(self, num_requested: int) -> None:
        self.requests.put(pb2.FetchRequest(num_requested=num_requested))

    def next(self, timeout: float = 5.0) -> pb2.FetchResponse:
        answer = self.answers.get(timeout=timeout)
        if isinstance(answer, grpc.RpcError):
            raise answer
        return answer

    def events(self, count: int, timeout: float = 5.0) -> list[pb2.ConsumerEvent]:
        """The next ``count`` events, across as many answers (keepalives skipped) as it takes."""
        found: list[pb2.ConsumerEvent] = []
        while len(found) < count:
            found += self.next(timeout).events
        assert len(found) == count, f"got {len(found)} events, expected {count}"
        return found

    def keepalive(self, timeout: float = 5.0) -> pb2.FetchResponse:
        """The next answer without events; fails if an event comes first."""
        answer = self.next(timeout)
        assert not answer.events, "expected a keepalive, got events"
        return answer

    def error(self, timeout: float = 5.0) -> grpc.RpcError:
        """The error that ends the stream within ``timeout`` (keepalives before it skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.answers.get(timeout=max(deadline - time.monotonic(), 0.01))
            if isinstance(answer, grpc.RpcError):
                return answer

    def close(self) -> None:
        self.call.cancel()
        self.requests.put(None)


def trailer(error: grpc.RpcError, key: str) -> str | None:
    """A trailing metadata value of a failed call (``error-code``, ``rpc-id``)."""
    for name, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if name == key:
            return str(value)
    return None


def changed_names(schema: dict[str, Any], bitmaps: list[str]) -> list[str]:
    """Salesforce's own decoding of a bitmap field, written from its documentation and
    forcedotcom/pub-sub-api python/util/ChangeEventHeaderUtility.py (bit i of the hex
    number is the schema's field at position i; "p-0x…" names fields nested in field p),
    independent of the sandbox's encoder."""
    names: list[str] = []
    fields = schema["fields"]
    for text in bitmaps:
        parent, _, hex_bits = text.rpartition("-")
        assert hex_bits.startswith("0x") and len(hex_bits) % 2 == 0, text
        bits = bin(int(hex_bits, 16))[2:][::-1]
        if not parent:
            names += [fields[i]["name"] for i, bit in enumerate(bits) if bit == "1"]
            continue
        field = fields[int(parent)]
        nested = _record(schema, field["type"])
        names += [
            f"{field['name']}.{nested[i]['name']}" for i, bit in enumerate(bits) if bit == "1"
        ]
    return names


def _record(schema: dict[str, Any], avro_type: Any) -> list[dict[str, Any]]:
    """The fields of a record type, a union's record branch, or a named record."""
    if isinstance(avro_type, list):
        branch = next(t for t in avro_type if t != "null")
        return _record(schema, branch)
    if isinstance(avro_type, dict):
        return list(avro_type["fields"])
    short = str(avro_type).rsplit(".", 1)[-1]
    for field in schema["fields"]:
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict) and branch.get("name") == short:
                return list(branch["fields"])
    raise LookupError(avro_type)
