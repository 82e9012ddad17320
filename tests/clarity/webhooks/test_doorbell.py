"""The doorbell: a SYSPRO-side job names changed keys; just those records move, once.

End to end against the SYSPRO and Xero sandboxes: a signed call to the real endpoint, the
stored event processed, the targeted run executed by the real pipeline.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.models import RecordStatus, SyncRecord, SyncRun, WebhookEvent
from clarity.sync.pipeline import flow_run_execute
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.webhooks.doorbell import UNHEARD_KEY, doorbell_signature
from clarity.webhooks.services import webhook_events_process
from connectors.configs import connector_for

pytestmark = pytest.mark.django_db

SECRET = "doorbell-secret-for-tests"


def ring(client, connection_id, body: bytes | dict, *, secret=SECRET, stamp=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time())) if stamp is None else stamp
    signature = doorbell_signature(secret, stamp, raw)
    sent = {"X-Clarity-Timestamp": stamp, "X-Clarity-Signature": signature, **(headers or {})}
    return client.post(f"/webhooks/doorbell/{connection_id}", raw,
                       content_type="application/json", headers=sent)  # fmt: skip


@pytest.fixture
def doorbell(syspro_xero):
    flow = syspro_xero["flow"]
    syspro = flow.source_connection
    syspro.credentials = {**syspro.credentials, "doorbell_secret": SECRET}
    syspro.save()
    type(flow).objects.filter(pk=flow.pk).update(trigger_webhook=True)
    get_queue(DEFAULT_QUEUE).empty()
    return syspro_xero


@pytest.mark.django_db(transaction=True)  # the pipeline reads ahead in a thread of its own
def test_a_rung_doorbell_moves_just_the_named_customers(
    client, doorbell, django_capture_on_commit_callbacks
):
    flow = doorbell["flow"]
    source = connector_for(flow.source_connection)
    first = next(iter(source.read_changes("customers", None))).records
    keys = [first[0]["Customer"], first[1]["Customer"]]
    source.close()
    # Typed by hand in a SQL job: the entity's case does not have to match the flow's.
    body = {"changes": [{"entity": "Customers", "keys": keys}]}

    with django_capture_on_commit_callbacks(execute=True):
        answer = ring(client, flow.source_connection_id, body)
    assert answer.status_code == 202, answer.content
    event = WebhookEvent.objects.get()
    assert event.change["record_ids"] == keys and len(get_queue(DEFAULT_QUEUE).jobs) == 1

    webhook_events_process(event_ids=[event.pk])
    run = SyncRun.objects.get(flow=flow)
    assert run.target_ids == sorted(keys)
    run = flow_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.message
    assert sorted(SyncRecord.objects.filter(flow=flow).values_list("source_id", flat=True)) == (
        sorted(keys)
    )
    assert SyncRecord.objects.filter(status=RecordStatus.SUCCEEDED).count() == 2
    assert doorbell["xero"].stats()["created"]["Contacts"] == 2
    flow.refresh_from_db()
    assert flow.cursor == ""  # a targeted run does not move the poll's cursor


def test_a_repeated_call_is_stored_once(client, doorbell):
    connection_id = doorbell["flow"].source_connection_id
    body, stamp = {"changes": [{"entity": "customers", "keys": ["0000001"]}]}, str(int(time.time()))
    assert ring(client, connection_id, body, stamp=stamp).status_code == 202
    assert ring(client, connection_id, body, stamp=stamp).status_code == 202
    assert WebhookEvent.objects.count() == 1


def hostile_cases(connection_id: int):
    good = {"changes": [{"entity": "customers", "keys": ["0000001"]}]}
    old = str(int(time.time()) - 3600)
    return [
        ("no such connection", 401, {"connection_id": 987654}),
        ("an id past bigint", 401, {"connection_id": 10**30}),
        ("another secret", 401, {"secret": "guess"}),
        ("a replay from long ago", 401, {"stamp": old}),
        ("a timestamp from the future", 401, {"stamp": str(int(time.time()) + 3600)}),
        ("a timestamp that is no number", 401, {"stamp": "soon"}),
        ("a non-ASCII signature", 401, {"headers": {"X-Clarity-Signature": "sha256=é"}}),
        ("no signature", 401, {"headers": {"X-Clarity-Signature": ""}}),
        ("not JSON", 400, {"body": b"{changes"}),
        ("no changes", 400, {"body": {"changes": []}}),
        ("keys not a list", 400, {"body": {"changes": [{"entity": "customers", "keys": "01"}]}}),
        ("a key too long", 400, {"body": {"changes": [{"entity": "c", "keys": ["k" * 201]}]}}),
        ("a key not text", 400, {"body": {"changes": [{"entity": "c", "keys": [1]}]}}),
        ("an entity not text", 400, {"body": {"changes": [{"entity": {}, "keys": ["1"]}]}}),
        ("a NUL", 400, {"body": {"changes": [{"entity": "c", "keys": ["a\u0000"]}]}}),
        ("too many keys", 400,
         {"body": {"changes": [{"entity": "c", "keys": [str(n) for n in range(1001)]}]}}),
        ("nested deep", 400, {"body": ("{\"changes\": " + "[" * 40 + "]" * 40 + "}").encode()}),
        ("a good call otherwise", 202, {"body": good}),
    ]  # fmt: skip


def test_hostile_calls_are_refused_4xx_storing_and_queueing_nothing(client, doorbell):
    connection_id = doorbell["flow"].source_connection_id
    good = {"changes": [{"entity": "customers", "keys": ["0000001"]}]}
    for name, status, case in hostile_cases(connection_id):
        answer = ring(client, case.get("connection_id", connection_id), case.get("body", good),
                      secret=case.get("secret", SECRET), stamp=case.get("stamp"),
                      headers=case.get("headers"))  # fmt: skip
        assert answer.status_code == status, (name, answer.content)
        if status != 202:
            assert not WebhookEvent.objects.exists(), name
            assert not get_queue(DEFAULT_QUEUE).jobs, name
    assert client.get(f"/webhooks/doorbell/{connection_id}").status_code == 405


def test_a_connection_without_a_doorbell_secret_has_no_doorbell(client, doorbell):
    xero = doorbell["flow"].target_connection  # holds no doorbell_secret
    answer = ring(client, xero.pk, {"changes": [{"entity": "Contacts", "keys": ["x"]}]})
    assert answer.status_code == 401 and not WebhookEvent.objects.exists()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_signed_body_gets_an_answer_never_a_500(client, doorbell, body):
    answer = ring(client, doorbell["flow"].source_connection_id, body)
    assert answer.status_code in (202, 400, 422), answer.content


def unheard(connection_id: int) -> dict[bytes, bytes]:
    return get_queue(DEFAULT_QUEUE).connection.hgetall(
        UNHEARD_KEY.format(connection_id=connection_id)
    )


@pytest.mark.parametrize(
    ("flow_change", "entity", "says"),
    [
        ({}, "custmers", "Entities it runs on events for: customers"),
        ({"trigger_webhook": False}, "customers", 'Tick "Run on events"'),
        ({"enabled": False}, "customers", 'Tick "Run on events" on (and enable)'),
    ],
    ids=["a typo", "its flow does not run on events", "its flow is disabled"],
)
def test_an_entity_no_flow_hears_is_refused_422_and_counted(
    client, doorbell, caplog, flow_change, entity, says
):
    flow = doorbell["flow"]
    get_queue(DEFAULT_QUEUE).connection.delete(
        UNHEARD_KEY.format(connection_id=flow.source_connection_id)
    )
    type(flow).objects.filter(pk=flow.pk).update(**flow_change)
    # One unheard entity refuses the whole call: the heard one is not stored either.
    body = {"changes": [{"entity": "Customers", "keys": ["0000001"]},
                        {"entity": entity, "keys": ["0000002"]}]}  # fmt: skip
    if flow_change:
        body["changes"].pop(0)

    answer = ring(client, flow.source_connection_id, body)

    assert answer.status_code == 422
    text = answer.content.decode()
    assert f"'{entity}'" in text and says in text and "nothing was stored" in text
    assert not WebhookEvent.objects.exists() and not get_queue(DEFAULT_QUEUE).jobs
    assert unheard(flow.source_connection_id) == {entity.encode(): b"1"}
    assert f"no flow runs on events for {entity}" in caplog.text


def test_an_entity_a_flow_hears_is_accepted_in_any_case_and_not_counted(client, doorbell):
    connection_id = doorbell["flow"].source_connection_id
    get_queue(DEFAULT_QUEUE).connection.delete(UNHEARD_KEY.format(connection_id=connection_id))
    answer = ring(client, connection_id, {"changes": [{"entity": "CUSTOMERS", "keys": ["1"]}]})
    assert answer.status_code == 202 and WebhookEvent.objects.count() == 1
    assert unheard(connection_id) == {}
