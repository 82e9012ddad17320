"""The KashFlow sandbox's wire shapes, over plain HTTP, against ../shared/systems/kashflow.md
(KashFlow has no official Python client to judge it).

[P] kashflow.com/developers/rest-api/authentication and /sessiontoken (mirrored at
chriscarlton.info), /api-products; [O] integrators' clients (tipstrade/KashFlowApiClient,
CappyTech/KashFlowAPI-CRON-ts); [A] where the sandbox chose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.kashflow import app as sandbox

WORD = "clarity"


@pytest.fixture
def url() -> Iterator[str]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield f"{server.url}/v2"


def logon(url: str) -> str:
    """The two-step logon [P]: password, then three characters of the memorable word."""
    first = requests.post(
        f"{url}/sessiontoken", json={"UserName": "demo", "Password": "demo"}, timeout=5
    ).json()
    answer = [
        {"Position": p["Position"], "Value": WORD[p["Position"] - 1]}
        for p in first["MemorableWordList"]
    ]
    body = {"TemporaryToken": first["TemporaryToken"], "MemorableWordList": answer}
    return str(requests.put(f"{url}/sessiontoken", json=body, timeout=5).json()["SessionToken"])


def get(url: str, path: str, authorization: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers={"Authorization": authorization}, timeout=5)


def test_logon_answers_the_documented_fields(url: str) -> None:
    first = requests.post(
        f"{url}/sessiontoken", json={"UserName": "demo", "Password": "demo"}, timeout=5
    ).json()
    assert {"TemporaryToken", "MemorableWordList", "IsAdmin", "PackageName",
            "SubscriptionExpired", "HasTemporaryPassword", "PartnerId"} <= set(first)  # fmt: skip
    assert [p["Value"] for p in first["MemorableWordList"]] == ["", "", ""]


@pytest.mark.parametrize(
    "scheme", ["Bearer", "Basic", "kftoken", "Token", ""], ids=lambda s: s or "bare"
)
def test_a_header_in_the_wrong_format_is_refused_and_ends_no_session(url: str, scheme) -> None:
    """Only ``KfToken <token>`` authenticates; a valid token under another scheme is a token
    "invalid or in wrong format" (401 InvalidSessionToken) and the session goes on."""
    token = logon(url)
    refused = get(url, "/customers", f"{scheme} {token}".strip())
    assert refused.status_code == 401
    assert refused.json() == {
        "Error": "InvalidSessionToken",
        "Message": "Session token provided is invalid.",
    }
    assert get(url, "/customers", f"KfToken {token}").status_code == 200


def test_only_the_session_itself_logs_out(url: str) -> None:
    token = logon(url)
    bearer = requests.delete(
        f"{url}/sessiontoken", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert bearer.status_code == 401
    assert get(url, "/customers", f"KfToken {token}").status_code == 200
    out = requests.delete(
        f"{url}/sessiontoken", headers={"Authorization": f"KfToken {token}"}, timeout=5
    )
    assert out.status_code == 200
    assert get(url, "/customers", f"KfToken {token}").status_code == 401


def test_lists_page_with_data_and_next_page_url(url: str) -> None:
    """[O] lists answer {"Data", "MetaData": {"NextPageUrl"}}; summaries null their details."""
    auth = f"KfToken {logon(url)}"
    first = get(url, "/invoices?page=1&perpage=5&sortby=Number&order=Asc", auth).json()
    assert len(first["Data"]) == 5 and first["MetaData"]["NextPageUrl"]
    summary = first["Data"][0]
    assert summary["LineItems"] is None and summary["PaymentLines"] is None
    detail = get(url, f"/invoices/{summary['Number']}", auth).json()
    assert isinstance(detail["LineItems"], list)
    numbers = [row["Number"] for row in first["Data"]]
    assert numbers == sorted(numbers)


def test_products_are_created_with_the_documented_fields(url: str) -> None:
    """[P] POST /v2/products creates a product: Code, Name, Description, Price, VATRate,
    NominalCode; GET /v2/products lists it."""
    auth = {"Authorization": f"KfToken {logon(url)}"}
    nominal: dict[str, Any] = requests.get(f"{url}/nominalcodes", headers=auth, timeout=5).json()
    code = nominal["Data"][0]["Code"]
    body = {"Code": "WIRE-1", "Name": "Wire test", "Description": "d", "Price": 12.5,
            "VATRate": 20, "NominalCode": code}  # fmt: skip
    created = requests.post(f"{url}/products", json=body, headers=auth, timeout=5)
    assert created.status_code == 201
    assert {"Code", "Name", "Description", "Price", "VATRate", "NominalCode"} <= set(created.json())
    listed = requests.get(f"{url}/products?perpage=100", headers=auth, timeout=5).json()
    assert "WIRE-1" in {p["Code"] for p in listed["Data"]}
    again = requests.post(f"{url}/products", json=body, headers=auth, timeout=5)
    assert again.status_code == 400  # Code is unique
