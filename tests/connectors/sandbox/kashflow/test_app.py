"""The KashFlow sandbox speaks the documented API: logon, paging, shapes, errors, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.kashflow import app as sandbox

WORD = "clarity"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        # Core's handler leaves Nagle on: ~40 ms a call from the client's delayed ACK.
        server.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def url(running: SandboxServer) -> str:
    SandboxControl(running.url).reset()
    return f"{running.url}/v2"


def start(url: str, password: str = "demo") -> requests.Response:  # noqa: S107
    return requests.post(
        f"{url}/sessiontoken", json={"UserName": "demo", "Password": password}, timeout=5
    )


def finish(url: str, first: dict[str, Any], word: str = WORD) -> requests.Response:
    answer = [
        {"Position": p["Position"], "Value": word[p["Position"] - 1]}
        for p in first["MemorableWordList"]
    ]
    body = {"TemporaryToken": first["TemporaryToken"], "MemorableWordList": answer}
    return requests.put(f"{url}/sessiontoken", json=body, timeout=5)


def logon(url: str) -> dict[str, str]:
    session = finish(url, start(url).json()).json()
    return {"Authorization": f"KfToken {session['SessionToken']}"}


def test_two_step_logon_with_memorable_word_characters(url: str) -> None:
    first = start(url).json()
    positions = [p["Position"] for p in first["MemorableWordList"]]
    assert len(set(positions)) == 3 and all(1 <= p <= len(WORD) for p in positions)
    assert {"IsAdmin", "PackageName", "SubscriptionExpired", "HasTemporaryPassword"} <= set(first)
    session = finish(url, first, WORD.upper())  # matching is case-insensitive
    assert session.status_code == 200
    assert session.json()["CompanyName"] == "Clarity Demo Trading Ltd"
    again = finish(url, first)  # the temporary token is single-use
    assert again.status_code == 401
    assert again.json()["Error"] == "InvalidTemporaryToken"


def test_session_token_header_idle_expiry_and_logout(url: str) -> None:
    headers = logon(url)
    assert requests.get(f"{url}/customers", headers=headers, timeout=5).status_code == 200
    bearer = {"Authorization": headers["Authorization"].replace("KfToken", "Bearer")}
    refused = requests.get(f"{url}/customers", headers=bearer, timeout=5)
    assert refused.status_code == 401
    assert refused.json() == {
        "Error": "InvalidSessionToken",
        "Message": "Session token provided is invalid.",
    }
    SandboxControl(url.removesuffix("/v2")).advance_clock(3601)
    assert requests.get(f"{url}/customers", headers=headers, timeout=5).status_code == 401
    headers = logon(url)
    assert requests.delete(f"{url}/sessiontoken", headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{url}/customers", headers=headers, timeout=5).status_code == 401


def test_account_locks_after_repeated_failures(url: str) -> None:
    for _ in range(4):
        assert start(url, "wrong").json()["Error"] == "InvalidCredentials"
    assert finish(url, start(url).json(), "xxxxxxx").json()["Error"] == "InvalidMemorableWord"
    locked = start(url)
    assert locked.status_code == 401
    assert locked.json()["Error"] == "AccountLocked"


def test_paging_envelope_and_summary_shapes(url: str) -> None:
    headers = logon(url)
    params = {"page": 1, "perpage": 150, "sortby": "Number", "order": "Desc"}
    first = requests.get(f"{url}/invoices", headers=headers, params=params, timeout=5).json()
    assert len(first["Data"]) == 100  # perpage is capped
    assert first["Data"][0]["Number"] == 1399
    assert first["Data"][0]["LineItems"] is None and first["Data"][0]["Currency"] is None
    next_url = first["MetaData"]["NextPageUrl"]
    assert "page=2" in next_url
    numbers = [i["Number"] for i in first["Data"]]
    while next_url:
        page = requests.get(next_url, headers=headers, timeout=5).json()
        numbers += [i["Number"] for i in page["Data"]]
        next_url = page["MetaData"]["NextPageUrl"]
    assert numbers == list(range(1399, 999, -1))
    detail = requests.get(f"{url}/invoices/1000", headers=headers, timeout=5).json()
    assert detail["LineItems"] and detail["Currency"]["Code"] == "GBP"


def test_seed_holds_records_that_fail_like_real_ones(url: str) -> None:
    headers = logon(url)
    customers = requests.get(
        f"{url}/customers", headers=headers, params={"perpage": 100}, timeout=5
    ).json()
    assert customers["MetaData"]["TotalRecords"] == 300
    get = lambda path: requests.get(f"{url}/{path}", headers=headers, timeout=5)  # noqa: E731
    assert get("invoices/1399").json()["CustomerCode"] == "GHO01"
    assert get("customers/GHO01").status_code == 404
    assert get("customers/NON01").json()["Name"] == ""
    assert get("customers/HOL01").json()["Name"] == get("customers/HOL02").json()["Name"]
    assert len(get("products").json()["Data"]) == 12
    assert {n["Code"] for n in get("nominalcodes").json()["Data"]} >= {1200, 4000}


def test_invoice_amounts_are_computed_and_payments_move_totals(url: str) -> None:
    headers = logon(url)
    body = {
        "CustomerCode": "HOL01",
        "LineItems": [
            {"Quantity": 2, "Description": "Oak panel", "Rate": 64, "VATRate": 20},
            {"Quantity": 1, "Description": "Export", "Rate": 10, "VATRate": -1},
        ],
    }
    created = requests.post(f"{url}/invoices", headers=headers, json=body, timeout=5).json()
    assert created["Number"] == 1400
    assert (created["NetAmount"], created["VATAmount"], created["GrossAmount"]) == (
        138,
        25.6,
        163.6,
    )
    payment = {"Date": "2026-02-01", "Amount": 100, "AccountId": 1, "Method": 3}
    requests.post(f"{url}/invoices/1400/payments", headers=headers, json=payment, timeout=5)
    paid = requests.get(f"{url}/invoices/1400", headers=headers, timeout=5).json()
    assert paid["TotalPaidAmount"] == 100
    assert paid["LastPaymentDate"] == "2026-02-01T00:00:00"
    stats = SandboxControl(url.removesuffix("/v2")).stats()
    assert stats["created"] == {"invoices": 1, "payments": 1}


def test_bulk_payments_answer_per_item(url: str) -> None:
    headers = logon(url)
    body = {
        "Date": "2026-02-01",
        "AccountId": 1,
        "Method": 3,
        "PaymentItems": [
            {"ObjectNumber": 1399, "Amount": 1, "PaidDate": "2026-02-01"},
            {"ObjectNumber": 99999, "Amount": 1},
        ],
    }
    answer = requests.post(f"{url}/invoices/bulk/payments", headers=headers, json=body, timeout=5)
    ok, missing = answer.json()["Data"]
    assert ok["Success"] and ok["Id"]
    assert (missing["Success"], missing["Error"]) == (False, "InvoiceNotFound")


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("customers", {"Code": "NEW01"}, "NameRequired"),
        ("customers", {"Code": "HOL01", "Name": "Dup"}, "CodeAlreadyExists"),
        ("invoices", {"CustomerCode": "GHO01", "LineItems": [{"Rate": 1}]}, "CustomerNotFound"),
        ("invoices", {"CustomerCode": "HOL01", "LineItems": []}, "LineItemsRequired"),
        ("invoices", {"Number": 1000, "CustomerCode": "HOL01"}, "NumberAlreadyExists"),
    ],
)
def test_validation_errors_have_error_and_message(
    url: str, path: str, body: dict[str, Any], error: str
) -> None:
    answer = requests.post(f"{url}/{path}", headers=logon(url), json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["Error"] == error
    assert answer.json()["Message"]


def test_assumed_variants_are_configurable(start_sandbox: Any) -> None:
    server = start_sandbox(
        sandbox.KashFlowSandbox(
            {"error_style": "aspnet", "line_item_names": "soap", "customers": 5, "invoices": 5}
        )
    )
    url = f"{server.url}/v2"
    headers = logon(url)
    refused = requests.post(f"{url}/customers", headers=headers, json={"Code": "X"}, timeout=5)
    assert refused.json() == {
        "Message": "The request is invalid.",
        "ModelState": {"Name": ["Customer name is required."]},
    }
    line = requests.get(f"{url}/invoices/1000", headers=headers, timeout=5).json()["LineItems"][0]
    assert {"VatRate", "ChargeType", "ProductID"} <= set(line)


def test_optional_rate_limit_answers_429_with_retry_after(start_sandbox: Any) -> None:
    server = start_sandbox(sandbox.KashFlowSandbox({"customers": 5, "invoices": 5}))
    url = f"{server.url}/v2"
    headers = logon(url)
    SandboxControl(server.url).limits(minute=2)
    statuses = [
        requests.get(f"{url}/products", headers=headers, timeout=5).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = requests.get(f"{url}/products", headers=headers, timeout=5)
    assert 0 < int(refused.headers["Retry-After"]) <= 61
