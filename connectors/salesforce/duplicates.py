"""Salesforce's error codes that mean the record sent already exists in Salesforce."""

from __future__ import annotations

import re

from connectors.duplicates import Duplicate, Duplicates

DUPLICATES: Duplicates = {
    # DUPLICATE_VALUE names the record holding the unique value: "duplicate value found:
    # ExtId__c duplicates value on record with id: 001…" [P] (developer.salesforce.com, API
    # StatusCode DUPLICATE_VALUE; the wording in /work/shared/systems/salesforce.md).
    "duplicate_value": (
        Duplicate("record", id_pattern=re.compile(r"record with id: (?P<id>[a-zA-Z0-9]{15,18})")),
    ),
    # DUPLICATES_DETECTED (a duplicate rule) lists the matches in its duplicateResult:
    # matchResults[].matchRecords[].record.Id [P] (developer.salesforce.com, "DuplicateResult"
    # in the SOAP/REST API reference), the first match is taken.
    "duplicates_detected": (
        Duplicate(
            "record",
            id_pattern=re.compile(
                r'"matchRecords".*?"Id":\s*"(?P<id>[a-zA-Z0-9]{15,18})"', re.DOTALL
            ),
        ),
    ),
}
