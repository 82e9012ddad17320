"""Salesforce Bulk API 2.0: large writes as one ingest job, large reads as one query job.

Why: sObject Collections take 200 records a call, so a backfill of 100,000
accounts is 500 calls of the org's daily allowance; one ingest job is about
eight (create, upload, close, a few polls, the result files). Salesforce itself
advises Bulk API 2.0 above 2,000 records [P "Bulk API and Bulk API 2.0 Limits
and Allocations", developer.salesforce.com/docs/platform/salesforce-app-limits-
cheatsheet]. What the calls look like is in the sandbox's ``bulk.py`` docstring,
with its evidence.

Each record keeps its own outcome. The result files come in no guaranteed
order [P "Get Job Failed Record Results"], so rows are matched back by a key
column the job carries: the external ID of an upsert, the Id of an update.
Records with neither (plain creates) have no such key and never go through a
job. A job whose outcome is not known — closed but not finished when we stop
waiting, or a poll or result file that failed — raises ``outcome_unknown``: the
sync core then looks its records up (``find_by_references``) instead of sending
them again, and that lookup waits while a job on the object is still running
(``jobs_in_flight``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import requests

from connectors.base import Record, WriteOutcome
from connectors.errors import ConnectorError, ErrorKind, RateLimitedError
from connectors.salesforce.errors import describe_error

Call = Callable[..., requests.Response]

# [P "Limits and Allocations"]: 150 MB per upload once base64 encoded, i.e. 100 MB as sent.
MAX_UPLOAD_BYTES = 100_000_000
NULL = "#N/A"  # [P "Prepare CSV Files"]: sets a field to null; an empty value leaves it as is
RUNNING = ("UploadComplete", "InProgress")
FINISHED = ("JobComplete", "Failed", "Aborted")
# sf__Error reads "CODE:message:fields --" [S salesforce.stackexchange answers].
_SF_ERROR = re.compile(
    r"^(?P<code>[A-Z_]+):(?P<message>.*?)(?::(?P<fields>[^:]*?))?\s*--\s*$", re.S
)
_NO_FIELD = re.compile(r"Field name not found : (?P<field>\S+)")


def csv_cell(value: Any) -> str:
    """One value as Bulk API 2.0 reads it: booleans in lower case, numbers without exponents,
    and null *or empty* as ``#N/A``.

    Why empty too: through REST an empty string clears a field (Salesforce keeps no empty
    strings), but an empty CSV cell leaves the field as it was [P "Prepare CSV Files"], so
    a value cleared at the source would silently stay in Salesforce.
    """
    if value is None or value == "":
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """``{"Account": {"ExternalID__c": "X"}}`` -> ``{"Account.ExternalID__c": "X"}``: a parent
    named by external ID as a CSV header names it [P "Relationship Fields in a Header Row"]."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                if sub != "attributes":
                    out[f"{name}.{sub}"] = inner
        else:
            out[name] = value
    return out


def csv_parts(rows: Sequence[dict[str, Any]], limit: int) -> Iterator[tuple[list[int], bytes]]:
    """The rows as CSV uploads of at most ``limit`` bytes each: (row indexes, body)."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    header = _line(columns)
    indexes: list[int] = []
    lines: list[str] = []
    size = len(header)
    for index, row in enumerate(rows):
        # A column a row lacks is sent empty: Salesforce leaves that field as it is.
        line = _line([csv_cell(row[c]) if c in row else "" for c in columns])
        if lines and size + len(line.encode()) > limit:
            yield indexes, (header + "".join(lines)).encode()
            indexes, lines, size = [], [], len(header)
        indexes.append(index)
        lines.append(line)
        size += len(line.encode())
    if lines:
        yield indexes, (header + "".join(lines)).encode()


def _line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def read_csv(response: requests.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def parse_sf_error(text: str) -> dict[str, Any]:
    """``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --`` -> an error dict
    in the REST shape ``describe_error`` reads."""
    found = _SF_ERROR.match(text.strip())
    if not found:
        return {"errorCode": "UNKNOWN_EXCEPTION", "message": text}
    fields = [f for f in (found["fields"] or "").split(",") if f.strip()]
    return {"errorCode": found["code"], "message": found["message"], "fields": fields}


class IngestJob:
    """One ingest job's calls: create, upload, close, poll, results."""

    def __init__(self, call: Call, entity: str, *, poll: float, max_wait: float) -> None:
        self.call, self.entity = call, entity
        self.poll, self.max_wait = poll, max_wait
        self.id = ""

    def run(self, operation: str, key: str, body: bytes, external_id: str = "") -> dict[str, Any]:
        """Create, upload and close the job, then wait for it; returns the final job info."""
        spec: dict[str, Any] = {
            "object": self.entity,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if external_id:
            spec["externalIdFieldName"] = external_id
        self.id = str(self.call("POST", "jobs/ingest", json=spec).json()["id"])
        try:
            self.call(
                "PUT",
                f"jobs/ingest/{self.id}/batches",
                data=body,
                headers={"Content-Type": "text/csv"},
                idempotent=False,  # a second PUT to a job is refused: never repeat it
            )
        except ConnectorError as exc:
            self._abort()
            exc.outcome_unknown = False  # a job never closed is never processed: none written
            raise
        try:
            self.call("PATCH", f"jobs/ingest/{self.id}", json={"state": "UploadComplete"})
        except ConnectorError as exc:
            if not exc.outcome_unknown:
                self._abort()
                raise
            raise self._unknown(f"closing it got no answer ({exc.message})") from exc
        return self._wait()

    def _abort(self) -> None:
        # Should the abort fail too, the job stays Open and so is never processed either.
        with contextlib.suppress(ConnectorError):
            self.call("PATCH", f"jobs/ingest/{self.id}", json={"state": "Aborted"})

    def _wait(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.max_wait
        delay = self.poll
        while True:
            try:
                info = self.call("GET", f"jobs/ingest/{self.id}").json()
            except RateLimitedError as exc:
                exc.outcome_unknown = True  # the job runs on: settle by lookup, never resend
                raise
            except ConnectorError as exc:
                raise self._unknown(f"asking how it went failed ({exc.message})") from exc
            if info.get("state") in FINISHED:
                return dict(info)
            if time.monotonic() + delay > deadline:
                raise self._unknown(f"it was still {info.get('state')} after {self.max_wait:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def results(self, info: Mapping[str, Any], uploaded: int) -> dict[str, list[dict[str, str]]]:
        """The three result files; a file that cannot be needed is not fetched."""
        files: dict[str, list[dict[str, str]]] = {"ok": [], "failed": [], "unprocessed": []}
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        wanted = [("ok", "successfulResults", processed > failed)]
        wanted += [("failed", "failedResults", failed > 0)]
        wanted += [("unprocessed", "unprocessedrecords", processed < uploaded)]
        for name, path, needed in wanted:
            if not needed:
                continue
            try:
                files[name] = read_csv(self.call("GET", f"jobs/ingest/{self.id}/{path}"))
            except ConnectorError as exc:
                raise self._unknown(f"its {path} could not be read ({exc.message})") from exc
        return files

    def _unknown(self, why: str) -> ConnectorError:
        return ConnectorError(
            ErrorKind.TRANSIENT,
            "bulk_job_unconfirmed",
            f"Salesforce bulk job {self.id} was sent, but {why}. Its records are looked up in "
            "Salesforce before anything is sent again.",
            raw={"job": self.id},
            outcome_unknown=True,
        )


def write_keyed(
    call: Call,
    entity: str,
    records: Sequence[Record],
    *,
    operation: str,
    key: str,
    poll: float = 0.5,
    max_wait: float = 600.0,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> list[WriteOutcome]:
    """Upsert (``key`` = the external ID field) or update (``key`` = ``Id``) through ingest jobs;
    one outcome per record, in order.

    A key two records share would make their results impossible to tell apart
    (and Salesforce writes neither): both fail here, before anything is sent.
    """
    outcomes: list[WriteOutcome | None] = [None] * len(records)
    keys = [str(r.get(key) or "").lower() for r in records]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    rows: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, record in enumerate(records):
        if counts[keys[index]] > 1:
            error = {
                "statusCode": "DUPLICATE_EXTERNAL_ID",
                "message": f"Duplicate external id specified: {record.get(key)}",
                "fields": [key],
            }
            outcomes[index] = _failed(entity, error, record, raw=error)
            continue
        row = flat(record)
        if operation == "upsert" and key != "Id":
            row.pop("Id", None)  # [A] the external ID decides which record, as in upsert by REST
        rows.append(row)
        positions.append(index)
    for part, body in csv_parts(rows, max_upload_bytes):
        job = IngestJob(call, entity, poll=poll, max_wait=max_wait)
        info = job.run(operation, key, body, key if operation == "upsert" else "")
        files = job.results(info, len(part))
        by_key = {str(records[positions[i]].get(key) or "").lower(): positions[i] for i in part}
        for row in files["ok"]:
            at = by_key.pop(_key(row, key), None)
            if at is not None:
                raw = {"job": job.id, **row}
                created = row.get("sf__Created") == "true"
                maker = WriteOutcome.created if created else WriteOutcome.updated
                outcomes[at] = maker(row["sf__Id"], raw=raw)
        for row in files["failed"]:
            at = by_key.pop(_key(row, key), None)
            if at is not None:
                error = parse_sf_error(row.get("sf__Error", ""))
                outcomes[at] = _failed(entity, error, records[at], raw={"job": job.id, **row})
        why = _not_processed(info, job.id)
        for at in by_key.values():
            # Unprocessed (the job failed or was aborted first), or missing from every file.
            outcomes[at] = _failed(entity, why, records[at], raw={"job": job.id, **why})
    return [o for o in outcomes if o is not None]


def _key(row: Mapping[str, str], key: str) -> str:
    for name, value in row.items():
        if name.lower() == key.lower():
            return value.lower()
    return ""


def _failed(entity: str, error: Mapping[str, Any], record: Record, *, raw: Any) -> WriteOutcome:
    kind, code, message = describe_error(entity, error, record)
    return WriteOutcome.failed(kind, code, message, raw=raw)


def _not_processed(info: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    """Why a record of the job was not processed, as an error ``describe_error`` reads."""
    state, reason = info.get("state"), str(info.get("errorMessage") or "")
    if missing := _NO_FIELD.search(reason):
        return {
            "errorCode": "INVALID_FIELD",
            "message": f"No such column '{missing['field']}' (bulk job {job_id}: {reason})",
            "fields": [missing["field"]],
        }
    return {
        "errorCode": "UNKNOWN_EXCEPTION",
        "message": f"Salesforce's bulk job {job_id} ended {state} before this record was "
        f"processed{': ' + reason if reason else ''}",
    }


def jobs_in_flight(call: Call, entity: str) -> list[str]:
    """Ingest jobs on ``entity`` Salesforce is still processing (closed, not finished)."""
    body = call("GET", "jobs/ingest", params={"jobType": "V2Ingest"}).json()
    found = [j for j in body.get("records", []) if j.get("object") == entity]
    while not body.get("done", True) and body.get("nextRecordsUrl"):
        body = call("GET", body["nextRecordsUrl"]).json()
        found += [j for j in body.get("records", []) if j.get("object") == entity]
    return [str(j["id"]) for j in found if j.get("state") in RUNNING]


def typed_row(row: Mapping[str, str], types: Mapping[str, str]) -> Record:
    """A query job's CSV row as REST would give it: typed values, null for an empty cell,
    ``Account.Name`` as ``{"Account": {"Name": …}}``."""
    record: Record = {}
    for name, text in row.items():
        value: Any = None
        if text != "":
            kind = types.get(name.lower(), "string")
            value = (
                float(text) if kind == "number"
                else int(float(text)) if kind == "integer"
                else text.lower() == "true" if kind == "boolean"
                else text
            )  # fmt: skip
        head, _, rest = name.partition(".")
        if rest:
            parent = record.setdefault(head, {})
            if isinstance(parent, dict):
                parent[rest] = value
        else:
            record[name] = value
    for name, value in list(record.items()):
        if isinstance(value, dict) and all(v is None for v in value.values()):
            record[name] = None  # no parent: REST shows null, not an empty object
    return record


def query_rows(
    call: Call, soql: str, *, page: int, poll: float, max_wait: float
) -> Iterator[list[dict[str, str]]]:
    """A query job's rows, page by page (``maxRecords``; ``Sforce-Locator`` to the next)."""
    job = call("POST", "jobs/query", json={"operation": "query", "query": soql}).json()
    job_id = str(job["id"])
    deadline = time.monotonic() + max_wait
    while job.get("state") not in ("JobComplete", "Failed", "Aborted"):
        if time.monotonic() > deadline:
            raise ConnectorError(
                ErrorKind.TRANSIENT,
                "bulk_query_unfinished",
                f"Salesforce's bulk query {job_id} was still {job.get('state')} after "
                f"{max_wait:.0f}s. The run reads again later.",
            )
        time.sleep(poll)
        job = call("GET", f"jobs/query/{job_id}").json()
    if job["state"] != "JobComplete":
        raise ConnectorError(
            ErrorKind.TRANSIENT,
            "bulk_query_failed",
            f"Salesforce's bulk query {job_id} ended {job['state']}: {job.get('errorMessage')}",
        )
    locator = ""
    while True:
        params: dict[str, Any] = {"maxRecords": page}
        if locator:
            params["locator"] = locator
        response = call("GET", f"jobs/query/{job_id}/results", params=params)
        yield read_csv(response)
        locator = response.headers.get("Sforce-Locator", "null")
        if not locator or locator == "null":  # [O] simple-salesforce bulk2.py
            return
