"""Salesforce's errorCodes and messages turned into kinds, codes and advice."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.errors import (
    ConnectorError,
    ErrorKind,
    ErrorRule,
    classify,
    rule,
    table_kinds,
    vendor_code,
)

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

# Salesforce's errorCodes [P] (developer.salesforce.com, "API Fault Element: ExceptionCode"
# and "StatusCode"), first match wins. A code that Salesforce uses for more than one fault
# is told apart by its message or by what the record holds, because the code alone sends a
# finance user to the wrong person: ``INVALID_FIELD`` is a mapping fault ("No such column")
# but also a parent named by an external ID that no record has; ``DUPLICATE_EXTERNAL_ID``
# may concern the record's own key, a key repeated in the batch or a parent's key;
# ``NOT_FOUND`` may mean an external-ID field that does not exist, which is the
# connection's set-up, not the record. Templates use the facts ``describe_error`` reads:
# {entity}, {fields} (named with the record's values), {message}, and those below.
RULES: tuple[ErrorRule, ...] = (
    rule(
        "invalid_field",
        ErrorKind.DATA,
        "This {entity} points to the {parent} with {key} '{value}', and Salesforce has no "
        "{parent} with that {key}. Send that {parent} to Salesforce first (or correct the "
        "reference on the source record), then retry.",
        name="INVALID_FIELD",
        pattern=_MISSING_PARENT,
    ),
    rule(
        "duplicate_external_id",
        ErrorKind.DATA,
        "This {entity} points to the {relationship} with {parent_key} '{parent_value}', but "
        "more than one {relationship} in Salesforce has {parent_key} '{parent_value}'{listed}, "
        "so Salesforce cannot tell which one to link it to. Merge the duplicate {relationship} "
        "records in Salesforce, or change {parent_key} on one of them; then retry.",
        name="DUPLICATE_EXTERNAL_ID",
        needs=("relationship",),
    ),
    rule(
        "duplicate_external_id",
        ErrorKind.DATA,
        lambda f: (
            f"More than one record sent in the same batch has the key '{f['value'].strip()}', "
            "so Salesforce wrote neither. Find the source records that share it and correct "
            "one; then retry."
        ),
        name="DUPLICATE_EXTERNAL_ID",
        pattern=_REPEATED_KEY,
    ),
    rule(
        "duplicate_external_id",
        ErrorKind.DATA,
        "More than one {entity} in Salesforce has {held}{listed}, so Salesforce cannot tell "
        "which one to update. Merge the duplicates or clear the value on one of them.",
        name="DUPLICATE_EXTERNAL_ID",
    ),
    rule(
        "not_found",
        ErrorKind.CONFIG,
        "The connection names an external ID field Salesforce's {entity} does not have (or "
        "may not use): {message}. Correct external_id_field in the connection's settings, or "
        "mark the field as an External ID in Salesforce.",
        name="NOT_FOUND",
        pattern=_NO_EXTERNAL_ID_FIELD,
    ),
    rule(
        "required_field_missing",
        ErrorKind.DATA,
        "Salesforce needs {fields} filled in on this {entity}. Fill it in on the source "
        "record, or give the mapping a default.",
        name="REQUIRED_FIELD_MISSING",
    ),
    rule(
        "duplicate_value",
        ErrorKind.DATA,
        "Another {entity} in Salesforce already has this {fields}. Correct the value on the "
        "source record, or merge the duplicate in Salesforce.",
        name="DUPLICATE_VALUE",
    ),
    rule(
        "duplicate_external_id",
        ErrorKind.DATA,
        "More than one {entity} in Salesforce has this {fields}, so Salesforce cannot tell "
        "which one to update. Merge the duplicates or clear the value on one of them.",
        name="DUPLICATE_EXTERNAL_ID",
    ),
    rule(
        "missing_argument",
        ErrorKind.DATA,
        "This {entity} has no {fields}, which Salesforce needs to find it. Fill it in on the "
        "source record, or check the mapping that supplies it.",
        name="MISSING_ARGUMENT",
    ),
    rule(
        "duplicates_detected",
        ErrorKind.DATA,
        "A Salesforce duplicate rule says this {entity} already exists. Link the source "
        "record to the existing one, or merge them in Salesforce.",
        name="DUPLICATES_DETECTED",
    ),
    rule(
        "field_custom_validation_exception",
        ErrorKind.DATA,
        "A Salesforce validation rule rejected this {entity}: {message}",
        name="FIELD_CUSTOM_VALIDATION_EXCEPTION",
    ),
    rule(
        "field_integrity_exception",
        ErrorKind.DATA,
        "Salesforce rejected {fields} on this {entity}: {message}",
        name="FIELD_INTEGRITY_EXCEPTION",
    ),
    rule(
        "invalid_cross_reference_key",
        ErrorKind.DATA,
        "This {entity} points at a record that does not exist in Salesforce ({fields}). Check "
        "the lookup that supplies it.",
        name="INVALID_CROSS_REFERENCE_KEY",
    ),
    rule(
        "string_too_long",
        ErrorKind.DATA,
        "{fields} is longer than Salesforce allows on this {entity}. Shorten it at the source.",
        name="STRING_TOO_LONG",
    ),
    rule(
        "invalid_or_null_for_restricted_picklist",
        ErrorKind.DATA,
        "{fields} has a value Salesforce's pick-list does not allow. Add a lookup that turns "
        "it into one of the allowed values.",
        name="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ),
    rule(
        "invalid_type_on_field_in_record",
        ErrorKind.DATA,
        "{fields} has a value of the wrong kind for Salesforce: {message}",
        name="INVALID_TYPE_ON_FIELD_IN_RECORD",
    ),
    rule(
        "entity_is_deleted",
        ErrorKind.DATA,
        "This {entity} was deleted in Salesforce. Restore it there, or unlink the source record.",
        name="ENTITY_IS_DELETED",
    ),
    rule(
        "field_filter_validation_exception",
        ErrorKind.DATA,
        "{fields} points at a record this {entity} may not be linked to (a lookup filter in "
        "Salesforce): {message}",
        name="FIELD_FILTER_VALIDATION_EXCEPTION",
    ),
    rule(
        "invalid_email_address",
        ErrorKind.DATA,
        "{fields} is not an email address Salesforce accepts. Correct it at the source.",
        name="INVALID_EMAIL_ADDRESS",
    ),
    rule(
        "number_outside_valid_range",
        ErrorKind.DATA,
        "{fields} is a number too large or too small for Salesforce. Correct it at the source.",
        name="NUMBER_OUTSIDE_VALID_RANGE",
    ),
    rule(
        "malformed_id",
        ErrorKind.DATA,
        "{fields} is not a Salesforce record id. Check the lookup that supplies it.",
        name="MALFORMED_ID",
    ),
    rule(
        "cannot_insert_update_activate_entity",
        ErrorKind.DATA,
        "An automation in Salesforce (a trigger or flow) refused this {entity}: {message} Ask "
        "the Salesforce admin what it needs, or fix the record at the source.",
        name="CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    ),
    rule(
        "not_found",
        ErrorKind.DATA,
        "Salesforce has no such {entity}: {message}",
        name="NOT_FOUND",
    ),
    rule(
        "invalid_field",
        ErrorKind.CONFIG,
        "The mapping sends a field Salesforce's {entity} does not have: {message}",
        name="INVALID_FIELD",
    ),
    rule(
        "invalid_field_for_insert_update",
        ErrorKind.CONFIG,
        "The mapping writes {fields}, which Salesforce does not let anyone set. Remove it "
        "from the mapping.",
        name="INVALID_FIELD_FOR_INSERT_UPDATE",
    ),
    rule(
        "malformed_query",
        ErrorKind.CONFIG,
        "Salesforce could not run the query: {message}",
        name="MALFORMED_QUERY",
    ),
    rule(
        "invalid_type",
        ErrorKind.CONFIG,
        "Salesforce has no object called {entity}.",
        name="INVALID_TYPE",
    ),
    rule(
        "json_parser_error",
        ErrorKind.CONFIG,
        "Salesforce could not read the request: {message}",
        name="JSON_PARSER_ERROR",
    ),
    rule(
        "invalid_session_id",
        ErrorKind.AUTH,
        "Salesforce no longer accepts this connection's session. Reconnect it.",
        name="INVALID_SESSION_ID",
    ),
    rule(
        "invalid_auth_header",
        ErrorKind.AUTH,
        "Salesforce did not accept this connection's sign-in. Reconnect it.",
        name="INVALID_AUTH_HEADER",
    ),
    rule(
        "insufficient_access",
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not do this. Ask the Salesforce "
        "admin to grant access.",
        name="INSUFFICIENT_ACCESS",
    ),
    rule(
        "insufficient_access_or_readonly",
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not change this {entity}.",
        name="INSUFFICIENT_ACCESS_OR_READONLY",
    ),
    rule(
        "insufficient_access_on_cross_reference_entity",
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not link this {entity} to the record "
        "in {fields}. Ask the Salesforce admin to share that record with it.",
        name="INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
    ),
    rule(
        "api_disabled_for_org",
        ErrorKind.AUTH,
        "This Salesforce edition or org has the API switched off. Ask the Salesforce admin.",
        name="API_DISABLED_FOR_ORG",
    ),
    rule(
        "api_currently_disabled",
        ErrorKind.AUTH,
        "The Salesforce user this connection runs as may not use the API. Ask the Salesforce "
        'admin to give it the "API Enabled" permission.',
        name="API_CURRENTLY_DISABLED",
    ),
    rule(
        "storage_limit_exceeded",
        ErrorKind.CONFIG,
        "Salesforce's data storage is full, so it takes no new records. Ask the Salesforce "
        "admin to free or buy storage; then retry.",
        name="STORAGE_LIMIT_EXCEEDED",
    ),
    rule(
        "unable_to_lock_row",
        ErrorKind.TRANSIENT,
        "Salesforce was busy updating this {entity}. It will be tried again.",
        name="UNABLE_TO_LOCK_ROW",
    ),
    rule(
        "request_limit_exceeded",
        ErrorKind.TRANSIENT,
        "Salesforce's daily API allowance is used up. The record will be tried again later.",
        name="REQUEST_LIMIT_EXCEEDED",
    ),
    rule(
        "all_or_none_operation_rolled_back",
        ErrorKind.TRANSIENT,
        "Salesforce undid this {entity} because another record in the batch failed. It will "
        "be tried again.",
        name="ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ),
    rule(
        "server_unavailable",
        ErrorKind.TRANSIENT,
        "Salesforce is unavailable. It will be tried again.",
        name="SERVER_UNAVAILABLE",
    ),
    rule(
        "unknown_exception",
        ErrorKind.TRANSIENT,
        "Salesforce had an internal error with this {entity}. It will be tried again.",
        name="UNKNOWN_EXCEPTION",
    ),
    rule(
        "query_timeout",
        ErrorKind.TRANSIENT,
        "Salesforce took too long to answer a query. It will be tried again.",
        name="QUERY_TIMEOUT",
    ),
)
# The errorCodes the table knows: a failed call's kind follows them (call_kind).
KNOWN_NAMES = frozenset(r.name for r in RULES)
# Every rule, for the registry and the conformance tests, and the kind of each code.
# The OAuth token endpoint's ``{"error", "error_description"}`` [P] (help.salesforce.com,
# "OAuth 2.0 JWT Bearer Flow": invalid_grant, invalid_client_id, invalid_client). A refused
# sign-in is the connection's credentials: auth, whatever the status says.
OAUTH_RULES: tuple[ErrorRule, ...] = (
    rule(
        "invalid_grant",
        ErrorKind.AUTH,
        "Salesforce refused the sign-in: {message}. Check the user is pre-authorised for the "
        "connected app and the certificate matches.",
        name="invalid_grant",
    ),
    rule(
        "invalid_client_id",
        ErrorKind.AUTH,
        "Salesforce does not know this connection's consumer key.",
        name="invalid_client_id",
    ),
    rule(
        "invalid_client",
        ErrorKind.AUTH,
        "Salesforce refused the connected app's credentials: {message}.",
        name="invalid_client",
    ),
)
ERROR_RULES = (*RULES, *OAUTH_RULES)
ERROR_KINDS: dict[str, ErrorKind] = table_kinds(ERROR_RULES)


def oauth_error(body: Mapping[str, Any]) -> tuple[str, str] | tuple[str, str, ErrorKind]:
    """A token endpoint's refusal in words; an error the table lacks keeps its own name
    (already snake case in OAuth) and the kind of the HTTP status."""
    name = str(body["error"])
    message = str(body.get("error_description") or name)
    found = classify(message, OAUTH_RULES, name=name, facts={"message": message})
    return (found.code, found.message, found.kind) if found else (vendor_code(name), message)


def describe_error(
    entity: str, error: Mapping[str, Any], record: Mapping[str, Any] | None = None
) -> tuple[ErrorKind, str, str]:
    """One Salesforce error (REST ``errorCode`` or Collections ``statusCode``) in plain words.

    The extractor: reads the code, message and fields, and names the fields with the
    record's own values where we have them, so a finance user sees *which* value to fix,
    not just which column. A code the table lacks keeps its snake case, as a data fault.
    """
    record = record or {}
    name = str(error.get("errorCode") or error.get("statusCode") or "UNKNOWN_EXCEPTION")
    message = str(error.get("message") or "")
    names = list(error.get("fields") or [])
    shown_names = names
    if not names and (found := _DUPLICATE_FIELD.search(message)):
        shown_names = [found.group(1)]  # DUPLICATE_VALUE names its field only in the message
    shown = [f"{n} '{record[n]}'" if record.get(n) not in (None, "") else n for n in shown_names]
    ids = (several["ids"] if (several := _SEVERAL_MATCH.search(message)) else "").strip()
    key = names[0] if names else "external ID"
    relationship, parent_key, parent_value = _parent_named(names, record) or (None, None, None)
    facts = {
        "entity": entity,
        "message": message,
        "fields": ", ".join(shown) or "a field",
        "listed": f" ({ids})" if ids else "",
        "held": f"{key} '{record[key]}'" if record.get(key) not in (None, "") else f"this {key}",
        "relationship": relationship,
        "parent_key": parent_key,
        "parent_value": parent_value,
    }
    said = classify(message, RULES, name=name, facts=facts)
    if said is None:
        return ErrorKind.DATA, vendor_code(name), f"Salesforce rejected this {entity}: {message}"
    return said.kind, said.code, said.message


def call_kind(exc: ConnectorError) -> ErrorKind:
    """A failed call's kind: from Salesforce's errorCode (and message) where the table
    knows the code, else from the HTTP status; a 5xx stays transient whatever it says."""
    errors = error_list(exc.raw)
    if exc.kind is ErrorKind.TRANSIENT or not errors:
        return exc.kind
    if str(errors[0].get("errorCode") or errors[0].get("statusCode") or "") not in KNOWN_NAMES:
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
