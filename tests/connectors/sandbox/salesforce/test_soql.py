"""SOQL in the Salesforce sandbox, as strict as Salesforce's: every literal checked
against its field's type, OFFSET capped, COUNT(), date literals, NULLS FIRST/LAST,
and never a 500 whatever the text (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.salesforce import app as sandbox
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY
from connectors.sandbox.salesforce.soql import date_range

V = "/services/data/v62.0"


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox.create_app({})) as server:
        yield server


@pytest.fixture(scope="module")
def org(running: SandboxServer) -> requests.Session:
    token = requests.post(
        f"{running.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CONSUMER_KEY,
            "client_secret": DEMO_CLIENT_SECRET,
        },
        timeout=5,
    ).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.base = running.url  # type: ignore[attr-defined]
    return session


def ask(org: requests.Session, soql: str) -> requests.Response:
    return org.get(f"{org.base}{V}/query", params={"q": soql}, timeout=10)  # type: ignore[attr-defined]


def rows(org: requests.Session, soql: str) -> list[dict[str, Any]]:
    response = ask(org, soql)
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def refused(org: requests.Session, soql: str) -> dict[str, Any]:
    response = ask(org, soql)
    assert response.status_code == 400, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


@pytest.mark.parametrize(
    ("soql", "code", "ending"),
    [
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_FIELD",
            "field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'",
            "INVALID_FIELD",
            "field 'CloseDate' must be of type date and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z",
            "INVALID_FIELD",
            "field 'CloseDate' must be of type date and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01",
            "INVALID_FIELD",
            "field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Amount > '100'",
            "INVALID_FIELD",
            "field 'Amount' must be of type currency and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM OpportunityLineItem WHERE Quantity IN ('1', 2)",
            "INVALID_FIELD",
            "field 'Quantity' must be of type double and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Product2 WHERE IsActive = 'true'",
            "INVALID_FIELD",
            "field 'IsActive' must be of type boolean and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 42",
            "INVALID_FIELD",
            "field 'Name' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = TODAY",
            "INVALID_FIELD",
            "field 'Name' must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Contact WHERE AccountId = 'not-an-id'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: not-an-id",
        ),
        (
            "SELECT Id FROM Account LIMIT 10 OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
        ("SELECT Id FROM Account LIMIT ten", "MALFORMED_QUERY", "found 'ten'"),
        ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS", "MALFORMED_QUERY", ":7"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-02-30",
            "MALFORMED_QUERY",
            "'2026-02-30'",
        ),
        ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "GROUP BY"),
        (
            "SELECT Id, (SELECT Id FROM Contacts OFFSET 1) FROM Account",
            "MALFORMED_QUERY",
            "LIMIT 1 clause",
        ),
    ],
)
def test_what_salesforce_refuses_is_refused_with_its_code(
    org: requests.Session, soql: str, code: str, ending: str
) -> None:
    error = refused(org, soql)
    assert error["errorCode"] == code
    assert error["message"].endswith(ending), error["message"]


def test_the_message_points_at_the_fault_as_salesforce_does(org: requests.Session) -> None:
    soql = "SELECT Id\nFROM Opportunity\nWHERE Amount > '5'"
    message = refused(org, soql)["message"]
    assert message.startswith("\nWHERE Amount > '5'\n               ^\nERROR at Row:3:Column:16\n")


def test_unquoted_literals_of_the_right_type_are_accepted(org: requests.Session) -> None:
    assert rows(org, "SELECT Id FROM Account WHERE SystemModstamp > 2000-01-01T00:00:00Z")
    assert rows(org, "SELECT Id FROM Account WHERE SystemModstamp > 2000-01-01T00:00:00.000+01:00")
    assert rows(org, "SELECT Id FROM Opportunity WHERE Amount > 100 AND CloseDate > 2000-01-01")
    assert rows(org, "SELECT Id FROM Product2 WHERE IsActive = true")
    assert len(rows(org, "SELECT Id FROM Account LIMIT 1 OFFSET 2000")) <= 1


def test_an_id_literal_of_15_characters_matches_its_record(org: requests.Session) -> None:
    [contact] = rows(org, "SELECT Id, AccountId FROM Contact WHERE AccountId != null LIMIT 1")
    short = contact["AccountId"][:15]
    found = rows(org, f"SELECT Id FROM Contact WHERE AccountId = '{short}'")  # noqa: S608
    assert contact["Id"] in {r["Id"] for r in found}


def test_count_answers_in_total_size_and_count_field_as_aggregate(org: requests.Session) -> None:
    every = rows(org, "SELECT Id FROM Contact WHERE Email != null")
    body = ask(org, "SELECT COUNT() FROM Contact WHERE Email != null").json()
    assert body == {"totalSize": len(every), "done": True, "records": []}
    [aggregate] = rows(org, "SELECT COUNT(Email) total FROM Contact")
    assert aggregate == {"attributes": {"type": "AggregateResult"}, "total": len(every)}
    [unaliased] = rows(org, "SELECT COUNT(Id) FROM Contact")
    assert unaliased["expr0"] >= len(every)


def test_nulls_first_and_last(org: requests.Session) -> None:
    def numbers(order: str) -> list[Any]:
        soql = f"SELECT AccountNumber FROM Account ORDER BY AccountNumber {order}"  # noqa: S608
        return [r["AccountNumber"] for r in rows(org, soql)]

    ascending = numbers("ASC")
    assert ascending[0] is None and ascending[-1] is not None  # ASC: nulls first
    descending = numbers("DESC")
    assert descending[0] is not None and descending[-1] is None  # DESC: nulls last
    assert numbers("ASC NULLS LAST")[-1] is None
    assert numbers("DESC NULLS FIRST")[0] is None
    present = [n for n in ascending if n is not None]
    assert [n for n in numbers("ASC NULLS LAST") if n is not None] == present


def test_date_literals_select_by_range(org: requests.Session) -> None:
    today = datetime.now(UTC).date()
    made = {}
    for label, day in {
        "today": today,
        "yesterday": today - timedelta(days=1),
        "ten_ago": today - timedelta(days=10),
        "in_three": today + timedelta(days=3),
    }.items():
        response = org.post(  # type: ignore[attr-defined]
            f"{org.base}{V}/sobjects/Opportunity",  # type: ignore[attr-defined]
            json={"Name": f"Dated {label}", "StageName": "Prospecting", "CloseDate": str(day)},
            timeout=5,
        )
        made[response.json()["id"]] = label

    def labels(literal: str) -> set[str]:
        found = rows(org, f"SELECT Id FROM Opportunity WHERE CloseDate {literal}")  # noqa: S608
        return {made[r["Id"]] for r in found if r["Id"] in made}

    assert labels("= TODAY") == {"today"}
    assert labels("= YESTERDAY") == {"yesterday"}
    assert labels("= LAST_N_DAYS:7") == {"today", "yesterday"}
    assert labels("= N_DAYS_AGO:10") == {"ten_ago"}
    assert labels("> TODAY") == {"in_three"}
    assert labels("< YESTERDAY") == {"ten_ago"}
    assert labels("= NEXT_N_DAYS:3") == {"in_three"}
    # A datetime field against a date literal: records made just now were made today.
    assert rows(org, "SELECT Id FROM Opportunity WHERE CreatedDate = TODAY")


@pytest.mark.parametrize(
    ("literal", "start", "end"),
    [
        (("THIS_WEEK", 0), date(2026, 12, 6), date(2026, 12, 13)),  # a Sunday
        (("LAST_WEEK", 0), date(2026, 11, 29), date(2026, 12, 6)),
        (("THIS_MONTH", 0), date(2026, 12, 1), date(2027, 1, 1)),
        (("NEXT_MONTH", 0), date(2027, 1, 1), date(2027, 2, 1)),
        (("LAST_MONTH", 0), date(2026, 11, 1), date(2026, 12, 1)),
        (("THIS_QUARTER", 0), date(2026, 10, 1), date(2027, 1, 1)),
        (("LAST_YEAR", 0), date(2025, 1, 1), date(2026, 1, 1)),
        (("LAST_90_DAYS", 0), date(2026, 9, 7), date(2026, 12, 7)),
        (("LAST_N_MONTHS", 2), date(2026, 10, 1), date(2026, 12, 1)),
        (("NEXT_N_WEEKS", 1), date(2026, 12, 13), date(2026, 12, 20)),
        (("N_YEARS_AGO", 1), date(2025, 1, 1), date(2026, 1, 1)),
        (("LAST_N_QUARTERS", 1), date(2026, 7, 1), date(2026, 10, 1)),
    ],
)
def test_date_literal_ranges(literal: tuple[str, int], start: date, end: date) -> None:
    assert date_range(literal, date(2026, 12, 6)) == (start, end)


_WORDS = st.sampled_from(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "COUNT",
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<",
        ">=",
        ":",
        "Id",
        "Name",
        "Account",
        "Contact",
        "Contacts",
        "Amount",
        "CloseDate",
        "SystemModstamp",
        "Account.Name",
        "'x'",
        "'001'",
        "42",
        "-1.5",
        "2026-01-01",
        "2026-13-45",
        "2026-01-01T00:00:00Z",
        "TODAY",
        "LAST_N_DAYS",
        "LAST_N_DAYS:3",
        "NULL",
        "true",
        "99999999999",
        "'",
        "\\",
        "Opportunity",
    ]
)


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(st.text(max_size=80), st.lists(_WORDS, max_size=24).map(" ".join)))
def test_any_text_is_answered_never_with_a_500(org: requests.Session, text: str) -> None:
    response = ask(org, text)
    assert response.status_code in (200, 400), (text, response.status_code, response.text)
    if response.status_code == 400:
        body = response.json()
        assert isinstance(body, list) and body[0]["errorCode"] and body[0]["message"]
