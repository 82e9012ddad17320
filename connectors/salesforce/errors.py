"""Salesforce's errorCodes and messages turned into kinds, codes and advice."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.errors import ConnectorError, ErrorKind

_DUPLICATE_FIELD = re.compile(r"duplicate value found: (\w+) duplicates")
# A parent named by an external ID that no record has (Salesforce answers INVALID_FIELD).
_MISSING_PARENT = re.compile(
    r"Foreign key external ID: (?P<value>.*?) not found for field (?P<key>\w+) "
    r"in entity (?P<parent>\w+)"
)
# An external ID several records share: the upserted record's own, or a parent's.
_SEVERAL_MATCH = re.compile(
    r"more than one record found for external id field: \[(?P<ids>[^\]]*)\]"
)
_REPEATED_KEY = re.compile(r"Duplicate external id specified: (?P<value>.*)")
_NO_EXTERNAL_ID_FIELD = re.compile(r"Provided external ID field does not exist")

# errorCode -> (kind, message template). Templates may use {entity} and {fields}.
_ERRORS: dict[str, tuple[ErrorKind, str]] = {
    "REQUIRED_FIELD_MISSING": (
        ErrorKind.DATA,
        "Salesforce needs {fields} filled in on this {entity}. Fill it in on the source "
        "record, or give the mapping a default.",
    ),
    "DUPLICATE_VALUE": (
        ErrorKind.DATA,
        "Another {entity} in Salesforce already has this {fields}. Correct the value on "
        "the source record, or merge the duplicate in Salesforce.",
    ),
    "DUPLICATE_EXTERNAL_ID": (
        ErrorKind.DATA,
        "More than one {entity} in Salesforce has this {fields}, so Salesforce cannot tell "
        "which one to update. Merge the duplicates or clear the value on one of them.",
    ),
    "MISSING_ARGUMENT": (
        ErrorKind.DATA,
        "This {entity} has no {fields}, which Salesforce needs to find it. Fill it in on the "
        "source record, or check the mapping that supplies it.",
    ),
    "DUPLICATES_DETECTED": (
        ErrorKind.DATA,
        "A Salesforce duplicate rule says this {entity} already exists. Link the source "
        "record to the existing one, or merge them in Salesforce.",
    ),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        ErrorKind.DATA,
        "A Salesforce validation rule rejected this {entity}: {message}",
    ),
    "FIELD_INTEGRITY_EXCEPTION": (
        ErrorKind.DATA,
        "Salesforce rejected {fields} on this {entity}: {message}",
    ),
    "INVALID_CROSS_REFERENCE_KEY": (
        ErrorKind.DATA,
        "This {entity} points at a record that does not exist in Salesforce ({fields}). "
        "Check the lookup that supplies it.",
    ),
    "STRING_TOO_LONG": (
        ErrorKind.DATA,
        "{fields} is longer than Salesforce allows on this {entity}. Shorten it at the source.",
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (
        ErrorKind.DATA,
        "{fields} has a value Salesforce's pick-list does not allow. Add a lookup that "
        "turns it into one of the allowed values.",
    ),
    "INVALID_TYPE_ON_FIELD_IN_RECORD": (
        ErrorKind.DATA,
        "{fields} has a value of the wrong kind for Salesforce: {message}",
    ),
    "ENTITY_IS_DELETED": (
        ErrorKind.DATA,
        "This {entity} was deleted in Salesforce. Restore it there, or unlink the source record.",
    ),
    "FIELD_FILTER_VALIDATION_EXCEPTION": (
        ErrorKind.DATA,
        "{fields} points at a record this {entity} may not be linked to (a lookup filter in "
        "Salesforce): {message}",
    ),
    "INVALID_EMAIL_ADDRESS": (
        ErrorKind.DATA,
        "{fields} is not an email address Salesforce accepts. Correct it at the source.",
    ),
    "NUMBER_OUTSIDE_VALID_RANGE": (
        ErrorKind.DATA,
        "{fields} is a number too large or too small for Salesforce. Correct it at the source.",
    ),
    "MALFORMED_ID": (
        ErrorKind.DATA,
        "{fields} is not a Salesforce record id. Check the lookup that supplies it.",
    ),
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": (
        ErrorKind.DATA,
        "An automation in Salesforce (a trigger or flow) refused this {entity}: {message} "
        "Ask the Salesforce admin what it needs, or fix the record at the source.",
    ),
    "NOT_FOUND": (ErrorKind.DATA, "Salesforce has no such {entity}: {message}"),
    "INVALID_FIELD": (
        ErrorKind.CONFIG,
        "The mapping sends a field Salesforce's {entity} does not have: {message}",
    ),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        ErrorKind.CONFIG,
        "The mapping writes {fields}, which Salesforce does not let anyone set. Remove it "
        "from the mapping.",
    ),
    "MALFORMED_QUERY": (ErrorKind.CONFIG, "Salesforce could not run the query: {message}"),
    "INVALID_TYPE": (ErrorKind.CONFIG, "Salesforce has no object called {entity}."),
    "JSON_PARSER_ERROR": (ErrorKind.CONFIG, "Salesforce could not read the request: {message}"),
    "INVALID_SESSION_ID": (
        ErrorKind.AUTH,
        "Salesforce no longer accepts this connection's session. Reconnect it.",
    ),
    "INVALID_AUTH_HEADER": (
        ErrorKind.AUTH,
        "Salesforce did not accept this connection's sign-in. Reconnect it.",
    ),
    "INSUFFICIENT_ACCESS": (
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not do this. Ask the Salesforce "
        "admin to grant access.",
    ),
    "INSUFFICIENT_ACCESS_OR_READONLY": (
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not change this {entity}.",
    ),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": (
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not link this {entity} to the "
        "record in {fields}. Ask the Salesforce admin to share that record with it.",
    ),
    "API_DISABLED_FOR_ORG": (
        ErrorKind.AUTH,
        "This Salesforce edition or org has the API switched off. Ask the Salesforce admin.",
    ),
    "API_CURRENTLY_DISABLED": (
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not use the API. Ask the "
        'Salesforce admin to give it the "API Enabled" permission.',
    ),
    "STORAGE_LIMIT_EXCEEDED": (
        ErrorKind.CONFIG,
        "Salesforce's data storage is full, so it takes no new records. Ask the Salesforce "
        "admin to free or buy storage; then retry.",
    ),
    "UNABLE_TO_LOCK_ROW": (
        ErrorKind.TRANSIENT,
        "Salesforce was busy updating this {entity}. It will be tried again.",
    ),
    "REQUEST_LIMIT_EXCEEDED": (
        ErrorKind.TRANSIENT,
        "Salesforce's daily API allowance is used up. The record will be tried again later.",
    ),
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": (
        ErrorKind.TRANSIENT,
        "Salesforce undid this {entity} because another record in the batch failed. It "
        "will be tried again.",
    ),
    "SERVER_UNAVAILABLE": (
        ErrorKind.TRANSIENT,
        "Salesforce is unavailable. It will be tried again.",
    ),
    "UNKNOWN_EXCEPTION": (
        ErrorKind.TRANSIENT,
        "Salesforce had an internal error with this {entity}. It will be tried again.",
    ),
    "QUERY_TIMEOUT": (
        ErrorKind.TRANSIENT,
        "Salesforce took too long to answer a query. It will be tried again.",
    ),
}

# The kind of each errorCode the table knows, for the conformance tests.
ERROR_KINDS: dict[str, ErrorKind] = {code: kind for code, (kind, _) in _ERRORS.items()}
OAUTH_ERRORS = {
    "invalid_grant": "Salesforce refused the sign-in: {message}. Check the user is pre-authorised "
    "for the connected app and the certificate matches.",
    "invalid_client_id": "Salesforce does not know this connection's consumer key.",
    "invalid_client": "Salesforce refused the connected app's credentials: {message}.",
}


def describe_error(
    entity: str, error: Mapping[str, Any], record: Mapping[str, Any] | None = None
) -> tuple[ErrorKind, str, str]:
    """One Salesforce error (REST ``errorCode`` or Collections ``statusCode``) in plain words.

    The fields are named with the record's own values where we have them, so
    a finance user sees *which* value to fix, not just which column.
    """
    code = str(error.get("errorCode") or error.get("statusCode") or "UNKNOWN_EXCEPTION")
    message = str(error.get("message") or "")
    names = list(error.get("fields") or [])
    special = _described_by_message(entity, code, message, names, record or {})
    if special is not None:
        return special[0], code, special[1]
    if not names and (found := _DUPLICATE_FIELD.search(message)):
        names = [found.group(1)]  # DUPLICATE_VALUE names its field only in the message
    shown = [
        f"{name} '{record[name]}'" if record and record.get(name) not in (None, "") else name
        for name in names
    ]
    kind, template = _ERRORS.get(
        code, (ErrorKind.DATA, "Salesforce rejected this {entity}: {message}")
    )
    return (
        kind,
        code,
        template.format(entity=entity, fields=", ".join(shown) or "a field", message=message),
    )


def _described_by_message(
    entity: str, code: str, message: str, names: Sequence[str], record: Mapping[str, Any]
) -> tuple[ErrorKind, str] | None:
    """Codes Salesforce uses for more than one fault, told apart by what its message says.

    Why: the code alone sends a finance user to the wrong person. ``INVALID_FIELD``
    is a mapping fault ("No such column") but also a parent named by an external
    ID that no record has; ``DUPLICATE_EXTERNAL_ID`` may concern the record's own
    key or a parent's; ``NOT_FOUND`` may mean an external-ID field that does not
    exist, which is the connection's set-up, not the record.
    """
    if code == "INVALID_FIELD" and (missing := _MISSING_PARENT.search(message)):
        parent, key, value = missing["parent"], missing["key"], missing["value"]
        return ErrorKind.DATA, (
            f"This {entity} points to the {parent} with {key} '{value}', and Salesforce has "
            f"no {parent} with that {key}. Send that {parent} to Salesforce first (or correct "
            "the reference on the source record), then retry."
        )
    if code == "DUPLICATE_EXTERNAL_ID":
        ids = (several["ids"] if (several := _SEVERAL_MATCH.search(message)) else "").strip()
        listed = f" ({ids})" if ids else ""
        parent = _parent_named(names, record)
        if parent is not None:
            relationship, key, value = parent
            return ErrorKind.DATA, (
                f"This {entity} points to the {relationship} with {key} '{value}', but more "
                f"than one {relationship} in Salesforce has {key} '{value}'{listed}, so "
                f"Salesforce cannot tell which one to link it to. Merge the duplicate "
                f"{relationship} records in Salesforce, or change {key} on one of them; "
                "then retry."
            )
        if repeated := _REPEATED_KEY.search(message):
            return ErrorKind.DATA, (
                f"More than one record sent in the same batch has the key "
                f"'{repeated['value'].strip()}', so Salesforce wrote neither. Find the source "
                "records that share it and correct one; then retry."
            )
        key = names[0] if names else "external ID"
        value = record.get(key)
        held = f"{key} '{value}'" if value not in (None, "") else f"this {key}"
        return ErrorKind.DATA, (
            f"More than one {entity} in Salesforce has {held}{listed}, so Salesforce cannot "
            "tell which one to update. Merge the duplicates or clear the value on one of them."
        )
    if code == "NOT_FOUND" and _NO_EXTERNAL_ID_FIELD.search(message):
        return ErrorKind.CONFIG, (
            f"The connection names an external ID field Salesforce's {entity} does not have "
            f"(or may not use): {message}. Correct external_id_field in the connection's "
            "settings, or mark the field as an External ID in Salesforce."
        )
    return None


def call_kind(exc: ConnectorError) -> ErrorKind:
    """A failed call's kind: from Salesforce's errorCode (and message) where the table
    knows the code, else from the HTTP status; a 5xx stays transient whatever it says."""
    errors = error_list(exc.raw)
    if exc.kind is ErrorKind.TRANSIENT or not errors:
        return exc.kind
    if str(errors[0].get("errorCode") or errors[0].get("statusCode") or "") not in _ERRORS:
        return exc.kind
    return describe_error("record", errors[0])[0]


def _parent_named(names: Sequence[str], record: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """(relationship, external ID field, value) of a parent the record names by external ID
    and the error points at (``AccountId`` -> ``"Account": {"ExternalID__c": …}``)."""
    for name in names:
        relationships = [name]
        if name.endswith("Id"):
            relationships.append(name[:-2])
        elif name.endswith("__c"):
            relationships.append(name[:-3] + "__r")
        for relationship in relationships:
            value = record.get(relationship)
            if isinstance(value, Mapping):
                keys = [k for k in value if k != "attributes"]
                if len(keys) == 1:
                    return relationship.removesuffix("__r"), keys[0], value[keys[0]]
    return None


def error_list(body: Any) -> list[Mapping[str, Any]]:
    if isinstance(body, list):
        return [e for e in body if isinstance(e, Mapping)]
    if isinstance(body, Mapping) and "errorCode" in body:
        return [body]
    return []
