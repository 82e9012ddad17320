"""Salesforce's error codes, each classified by what Salesforce means by it.

The table follows Salesforce's "Status Codes and Error Responses" and the
StatusCode enum; the messages are the ones Salesforce sends. A code used for
more than one fault (INVALID_FIELD, DUPLICATE_EXTERNAL_ID, NOT_FOUND) is told
apart by its message, and the answer is checked against the sandbox, which
answers as Salesforce does.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connectors.base import ConnectionConfig, InMemoryTokenStore, WriteStatus
from connectors.errors import ConnectorError, ErrorKind
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.errors import describe_error
from connectors.sandbox.core import SandboxServer

DATA, CONFIG, AUTH, TRANSIENT = (
    ErrorKind.DATA,
    ErrorKind.CONFIG,
    ErrorKind.AUTH,
    ErrorKind.TRANSIENT,
)

# (statusCode, a message Salesforce sends with it, fields) -> kind
DOCUMENTED = [
    ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"], DATA),
    ("DUPLICATE_VALUE", "duplicate value found: ExternalID__c duplicates value on record "
     "with id: 0015g00000AbCdE", [], DATA),
    ("DUPLICATES_DETECTED", "Use one of these records?", [], DATA),
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Amount must be positive", [], DATA),
    ("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId", [], DATA),
    ("FIELD_FILTER_VALIDATION_EXCEPTION", "Value does not exist or does not match filter "
     "criteria.", ["AccountId"], DATA),
    ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["AccountId"], DATA),
    ("STRING_TOO_LONG", "Name: data value too large", ["Name"], DATA),
    ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value for restricted picklist field: X",
     ["StageName"], DATA),
    ("INVALID_TYPE_ON_FIELD_IN_RECORD", "Amount: value not of required type: abc", ["Amount"],
     DATA),
    ("INVALID_EMAIL_ADDRESS", "Email: invalid email address: x@", ["Email"], DATA),
    ("NUMBER_OUTSIDE_VALID_RANGE", "Quantity: value outside of valid range", ["Quantity"], DATA),
    ("MALFORMED_ID", "Account ID: id value of incorrect type: 123", ["AccountId"], DATA),
    ("ENTITY_IS_DELETED", "entity is deleted", [], DATA),
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "ContactTrigger: execution of BeforeInsert "
     "caused by: System.NullPointerException", [], DATA),
    ("MISSING_ARGUMENT", "ExternalID__c not specified", ["ExternalID__c"], DATA),
    ("NOT_FOUND", "The requested resource does not exist", [], DATA),
    ("DUPLICATE_EXTERNAL_ID", "ExternalID__c: more than one record found for external id "
     "field: [0015g00000AbCdE, 0015g00000AbCdF]", ["ExternalID__c"], DATA),
    ("INVALID_FIELD", "No such column 'Foo__c' on sobject of type Contact", ["Foo__c"], CONFIG),
    ("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: IsWon.", ["IsWon"],
     CONFIG),
    ("MALFORMED_QUERY", "unexpected token: FROM", [], CONFIG),
    ("INVALID_TYPE", "sObject type 'Contactt' is not supported.", [], CONFIG),
    ("JSON_PARSER_ERROR", "Unexpected character", [], CONFIG),
    ("STORAGE_LIMIT_EXCEEDED", "storage limit exceeded", [], CONFIG),
    ("INVALID_SESSION_ID", "Session expired or invalid", [], AUTH),
    ("INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE", [], AUTH),
    ("INSUFFICIENT_ACCESS", "insufficient access rights on object id", [], AUTH),
    ("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [], AUTH),
    ("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "insufficient access rights on cross-"
     "reference id: 0015g00000AbCdE", ["AccountId"], AUTH),
    ("API_DISABLED_FOR_ORG", "API is not enabled for this Organization or Partner", [], AUTH),
    ("API_CURRENTLY_DISABLED", "API is disabled for this User", [], AUTH),
    ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", [], TRANSIENT),
    ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", [], TRANSIENT),
    ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were "
     "valid and the request was using AllOrNone header", [], TRANSIENT),
    ("SERVER_UNAVAILABLE", "Server temporarily unavailable", [], TRANSIENT),
    ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you "
     "contact support: 1234-5678", [], TRANSIENT),
    ("QUERY_TIMEOUT", "Your query request was running for too long.", [], TRANSIENT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "message", "fields", "kind"), DOCUMENTED, ids=[row[0] for row in DOCUMENTED]
)
def test_each_documented_code_has_its_kind_and_a_readable_message(
    code: str, message: str, fields: list[str], kind: ErrorKind
) -> None:
    got_kind, got_code, text = describe_error(
        "Contact", {"statusCode": code, "message": message, "fields": fields}
    )
    assert (got_kind, got_code) == (kind, code.lower())  # codes in snake case
    assert code not in text and "{" not in text  # words, not the code or a template
    assert len(text) > 30


def test_a_parent_external_id_several_accounts_share_is_data_naming_the_value() -> None:
    """The demo's Contact of NWT001: Salesforce says DUPLICATE_EXTERNAL_ID, on AccountId."""
    kind, code, text = describe_error(
        "Contact",
        {
            "statusCode": "DUPLICATE_EXTERNAL_ID",
            "message": "Customer Code: more than one record found for external id field: "
            "[0015g00000AbCdE, 0015g00000AbCdF]",
            "fields": ["AccountId"],
        },
        {"LastName": "Holt", "Account": {"ExternalID__c": "NWT001"}},
    )
    assert (kind, code) == (DATA, "duplicate_external_id")
    assert "Account with ExternalID__c 'NWT001'" in text
    assert "more than one Account" in text and "0015g00000AbCdE" in text
    assert "mapping" not in text


def test_a_parent_external_id_no_record_has_is_data_not_a_mapping_fault() -> None:
    kind, code, text = describe_error(
        "Contact",
        {
            "statusCode": "INVALID_FIELD",
            "message": "Foreign key external ID: CUST9999 not found for field ExternalID__c "
            "in entity Account",
            "fields": [],
        },
    )
    assert (kind, code) == (DATA, "invalid_field")
    assert "Account with ExternalID__c 'CUST9999'" in text and "first" in text


def test_a_key_repeated_within_one_batch_is_data() -> None:
    kind, _, text = describe_error(
        "Contact",
        {
            "statusCode": "DUPLICATE_EXTERNAL_ID",
            "message": "Duplicate external id specified: CON-00001",
            "fields": ["ExternalID__c"],
        },
        {"ExternalID__c": "CON-00001"},
    )
    assert kind is DATA and "'CON-00001'" in text and "same batch" in text


def test_an_external_id_field_that_does_not_exist_is_config() -> None:
    kind, code, text = describe_error(
        "Contact",
        {
            "errorCode": "NOT_FOUND",
            "message": "Provided external ID field does not exist or is not accessible: Bogus__c",
        },
    )
    assert (kind, code) == (CONFIG, "not_found")
    assert "external_id_field" in text


# -- the same, as the sandbox (like Salesforce) answers it ------------------------------


@pytest.fixture
def salesforce(start_sandbox: Callable[..., SandboxServer]) -> Callable[..., SalesforceConnector]:
    server = start_sandbox("salesforce")

    def connect(**settings: object) -> SalesforceConnector:
        config = ConnectionConfig(
            system="salesforce",
            connection_id="test-salesforce-errors",
            base_url=server.url,
            settings={
                "client_id": "3MVG9demo.clarity.connect.sandbox",
                "auth_flow": "client_credentials",
                **settings,
            },
            secrets={"client_secret": "demo-client-secret-0123456789"},
        )
        return SalesforceConnector(config, InMemoryTokenStore())

    return connect


def test_the_sandbox_answers_a_contact_of_a_shared_account_id_as_salesforce_does(
    salesforce: Callable[..., SalesforceConnector],
) -> None:
    sf = salesforce()
    contact = {
        "ExternalID__c": "CON-NWT",
        "LastName": "Holt",
        "Account": {"ExternalID__c": "NWT001"},
    }
    missing = {
        "ExternalID__c": "CON-GONE",
        "LastName": "Gone",
        "Account": {"ExternalID__c": "NOPE1"},
    }
    shared, absent = sf.write_batch("Contact", [contact, missing])

    assert shared.status is WriteStatus.FAILED
    assert (shared.kind, shared.code) == (DATA, "duplicate_external_id")
    assert "Account with ExternalID__c 'NWT001'" in (shared.message or "")
    assert shared.raw["errors"][0]["fields"] == ["AccountId"]
    assert absent.status is WriteStatus.FAILED
    assert (absent.kind, absent.code) == (DATA, "invalid_field")
    assert "Account with ExternalID__c 'NOPE1'" in (absent.message or "")


def test_a_whole_call_is_classified_by_its_error_not_only_its_status(
    salesforce: Callable[..., SalesforceConnector],
) -> None:
    """A 404 NOT_FOUND for an external ID field that does not exist is the set-up's fault."""
    sf = salesforce(external_id_field="Bogus__c")
    with pytest.raises(ConnectorError) as refused:
        sf.write_batch("Contact", [{"Bogus__c": "X1", "LastName": "Holt"}])
    assert (refused.value.kind, refused.value.code) == (CONFIG, "not_found")
    with pytest.raises(ConnectorError) as unknown_column:
        sf.write_batch("Contact", [{"LastName": "Holt", "Foo__c": "x"}])
    assert unknown_column.value.kind is CONFIG
