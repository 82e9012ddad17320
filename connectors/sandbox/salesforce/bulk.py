"""Bulk API 2.0: ingest jobs (CSV in, per-record result files out) and query jobs (CSV pages).

Evidence, by label (see ``/work/shared/systems/README.md``):

* [P] Bulk API 2.0 Developer Guide — "Create a Job", "Upload Job Data",
  "Close or Abort a Job", "Get Job Info", "Get Job Successful/Failed Record
  Results", "Get Job Unprocessed Record Results", "Get Results for a Query Job"
  (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/
  and .../api_bulk_v2.meta/api_bulk_v2/query_get_job_results.htm): the paths,
  the states Open -> UploadComplete -> InProgress -> JobComplete | Failed |
  Aborted, the job-info fields, ``sf__Id``/``sf__Created`` and
  ``sf__Id``/``sf__Error`` columns before the uploaded ones, results in no
  guaranteed order, ``locator``/``maxRecords`` with the ``Sforce-Locator``
  and ``Sforce-NumberOfRecords`` headers, an empty CSV value leaving a field
  as it is and ``#N/A`` setting it to null.
* [P] "Limits and Allocations" (.../api_bulk_v2/bulk_api_2_limits.htm): an
  upload of at most 150 MB (base64: 100 MB of CSV as sent), 150,000,000
  records per rolling 24 h, 32,000 characters a field, 10,000 query jobs a day.
* [O] simple-salesforce ``simple_salesforce/bulk2.py``: results pages read
  until ``Sforce-Locator`` is the string ``"null"``; each page a CSV with its
  header row.
* [S] salesforce.stackexchange answers: a second PUT to one job answers
  ``INVALIDJOBSTATE`` "Found multiple contents for job"; a header naming no
  field fails the job with "InvalidBatch : Field name not found : X";
  ``sf__Error`` reads ``CODE:message:fields --``.
* [A] assumed: the HTTP status of a job created (200), the code of an
  oversized upload (``INVALIDBATCH`` 400), failing every row that repeats an
  external ID within the job as sObject Collections does, change events keeping
  the job creator's ``Sforce-Call-Options`` client, and the default query page
  (``bulk_query_page`` option, 50,000 rows).

Rows are applied by the org's own ``deserialize``/``save``, the code the REST
and Collections paths run, so a row fails exactly as it would through REST
(except a value of the wrong type: REST refuses the whole call, Bulk fails the
row). Each internal chunk of 200 rows is one transaction: its counters and
change events are committed together, as Salesforce processes a job's
batches in chunks of 200 records [P "How Requests Are Processed"].

Not emulated: the 15,000 batches a day shared with Bulk API 1.0, jobs removed after
7 days, ``queryAll`` returning deleted records (it answers as ``query``), query jobs
queued (they finish when created), listing query jobs, and PK chunking.

Options: ``bulk_max_upload_bytes`` (100,000,000), ``bulk_daily_records``
(150,000,000), ``bulk_query_page`` (50,000). ``POST /_sandbox/bulk
{"hold": true}`` keeps closed jobs at UploadComplete until released with
``{"hold": false}`` (to test a client that stops waiting).
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import HttpError, Request, Response, json_response
from connectors.sandbox.salesforce.schema import (
    FIELDS,
    Field,
    RecordError,
    Transaction,
    salesforce_id,
    sf_datetime,
    sf_error,
)
from connectors.sandbox.salesforce.soql import SoqlParser

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceApp

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
CHUNK = 200  # rows per transaction [P "How Requests Are Processed"]
BATCH = 10_000  # rows per internal batch, processed as one unit [P same page]
NULL = "#N/A"  # [P] "Valid Date Format / Prepare CSV Files": sets a field to null
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}


@dataclass
class BulkJob:
    id: str
    kind: str  # "ingest" | "query"
    operation: str
    sobject: str
    user: str  # the creator's user Id
    username: str
    version: str
    origin: str
    external_id: str = ""
    line_ending: str = "LF"
    delimiter: str = "COMMA"
    state: str = "Open"
    created: str = ""
    closed_at: float | None = None  # when its records counted against the daily allocation
    error: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    uploaded: bool = False
    processed: int = 0
    succeeded: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failed: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    query: str = ""
    results: list[list[str]] = field(default_factory=list)
    repeated: set[str] | None = None  # external IDs more than one row of the job carries

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.user,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "jobType": "V2Ingest" if self.kind == "ingest" else "V2Query",
            "numberRecordsProcessed": self.processed,
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if self.kind == "ingest":
            body["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
            body["numberRecordsFailed"] = len(self.failed)
            if self.external_id:
                body["externalIdFieldName"] = self.external_id
        else:
            body["query"] = self.query
        if self.error:
            body["errorMessage"] = self.error
        return body


class BulkApi:
    """The Bulk API 2.0 routes and the background processor of one org."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.hold = False
        self._wake = threading.Event()
        self._serial = itertools.count(1)
        threading.Thread(target=self._process_forever, name="salesforce-bulk", daemon=True).start()

    def routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        return [
            ("POST", "/jobs/ingest", self.create_ingest),
            ("GET", "/jobs/ingest", self.list_ingest),
            ("GET", "/jobs/ingest/{job_id}", self.job_info),
            ("PATCH", "/jobs/ingest/{job_id}", self.change_state),
            ("DELETE", "/jobs/ingest/{job_id}", self.delete_job),
            ("PUT", "/jobs/ingest/{job_id}/batches", self.upload),
            ("GET", "/jobs/ingest/{job_id}/successfulResults", self.successful),
            ("GET", "/jobs/ingest/{job_id}/failedResults", self.failed),
            ("GET", "/jobs/ingest/{job_id}/unprocessedrecords", self.unprocessed),
            ("POST", "/jobs/query", self.create_query),
            ("GET", "/jobs/query/{job_id}", self.job_info),
            ("PATCH", "/jobs/query/{job_id}", self.change_state),
            ("GET", "/jobs/query/{job_id}/results", self.query_results),
        ]

    def control(self, request: Request) -> Response:
        body = request.json() or {}
        if "hold" in body:
            self.hold = bool(body["hold"])
            self._wake.set()
        return json_response({"hold": self.hold, "jobs": len(self.jobs)})

    @property
    def jobs(self) -> dict[str, BulkJob]:
        return self.app.bulk_jobs

    # -- ingest jobs ----------------------------------------------------------------

    def _new_job(self, request: Request, kind: str, operation: str, sobject: str) -> BulkJob:
        body = request.json()
        job = BulkJob(
            id=salesforce_id("750", 700_000 + next(self._serial) + len(self.jobs)),
            kind=kind,
            operation=operation,
            sobject=sobject,
            user=self.app.users[request.params["user"]]["id"],
            username=request.params["user"],
            version=request.params["version"],
            origin=self.app.begin(request, api="bulkapi").origin,
            line_ending=str(body.get("lineEnding") or "LF"),
            delimiter=str(body.get("columnDelimiter") or "COMMA"),
            created=sf_datetime(self.app.now()),
        )
        if job.line_ending not in ("LF", "CRLF") or job.delimiter not in DELIMITERS:
            raise sf_error(400, "INVALIDJOB", "Invalid lineEnding or columnDelimiter")
        if str(body.get("contentType") or "CSV") != "CSV":
            raise sf_error(400, "INVALIDJOB", "contentType must be CSV")
        self.jobs[job.id] = job
        return job

    def create_ingest(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, Mapping):
            raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for the job")
        operation = str(body.get("operation") or "")
        if operation not in OPERATIONS:
            raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        sobject = self.app._sobject(str(body.get("object") or ""))
        external = ""
        if operation == "upsert":
            name = str(body.get("externalIdFieldName") or "")
            if not name:
                raise sf_error(
                    400, "INVALIDJOB", "InvalidJob : External ID was blank for " + sobject
                )
            external = self.app._external_field(sobject, name).name
        job = self._new_job(request, "ingest", operation, sobject)
        job.external_id = external
        return json_response(job.info())

    def list_ingest(self, request: Request) -> Response:
        kind = {"V2Ingest": "ingest", "V2Query": "query"}.get(request.arg("jobType") or "")
        found = [j.info() for j in self.jobs.values() if kind in (None, j.kind)]
        return json_response({"done": True, "records": found, "nextRecordsUrl": None})

    def _job(self, request: Request, kind: str | None = None) -> BulkJob:
        job = self.jobs.get(request.params["job_id"])
        wanted = kind or ("query" if "/jobs/query/" in request.path else "ingest")
        if job is None or job.kind != wanted:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def job_info(self, request: Request) -> Response:
        return json_response(self._job(request).info())

    def upload(self, request: Request) -> Response:
        job = self._job(request, "ingest")
        if job.state != "Open":
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads")
        if job.uploaded:
            raise sf_error(
                400,
                "INVALIDJOBSTATE",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / "
                "'Delete' the current Job then create a new Job and make sure you only do "
                "'PUT' once on a given Job.",
            )
        if not (request.header("Content-Type") or "").startswith("text/csv"):
            raise sf_error(400, "INVALIDBATCH", "Content-Type must be text/csv")
        limit = int(self.app.option("bulk_max_upload_bytes", 100_000_000))
        if len(request.body) > limit:
            raise sf_error(
                400,
                "INVALIDBATCH",
                f"Upload of {len(request.body)} bytes exceeds the {limit} bytes a job takes "
                "(150 MB once base64 encoded)",
            )
        text = request.body.decode("utf-8-sig")
        if job.line_ending == "LF" and "\r\n" in text:
            raise sf_error(
                400, "INVALIDBATCH", "LineEnding is invalid on user data. Current LineEnding "
                "setting is LF"
            )  # fmt: skip
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter])
        lines = [line for line in reader if line]
        if not lines:
            raise sf_error(400, "INVALIDBATCH", "The upload holds no header row")
        job.header = lines[0]
        job.rows = [dict(zip(job.header, line, strict=False)) for line in lines[1:]]
        job.uploaded = True
        return Response(201)

    def change_state(self, request: Request) -> Response:
        job = self._job(request)
        body = request.json() or {}
        wanted = body.get("state") if isinstance(body, Mapping) else None
        if wanted == "Aborted":
            if job.state in TERMINAL:
                raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
            job.state = "Aborted"
            return json_response(job.info())
        if wanted != "UploadComplete" or job.kind != "ingest":
            raise sf_error(400, "INVALIDJOBSTATE", f"Cannot change the job's state to {wanted}")
        if job.state != "Open":
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is not Open ({job.state})")
        daily = int(self.app.option("bulk_daily_records", 150_000_000))
        since = self.app.now() - 86_400  # a rolling 24 hours [P]
        today = len(job.rows) + sum(
            len(j.rows) for j in self.jobs.values() if j.closed_at and j.closed_at > since
        )
        if today > daily:
            raise sf_error(
                400, "EXCEEDED_QUOTA", f"Bulk API 2.0 takes {daily} records per rolling 24 hours"
            )
        job.state, job.closed_at = "UploadComplete", self.app.now()
        self._wake.set()
        return json_response(job.info())

    def delete_job(self, request: Request) -> Response:
        job = self._job(request)
        if job.state in ("UploadComplete", "InProgress"):
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}: abort it first")
        del self.jobs[job.id]
        return Response(204)

    def _csv(self, header: list[str], rows: Iterator[list[str]]) -> Response:
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return Response(200, out.getvalue().encode(), {"Content-Type": "text/csv"})

    def _results_job(self, request: Request) -> BulkJob:
        job = self._job(request, "ingest")
        if job.state in ("Open",):
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} has not been closed")
        return job

    def successful(self, request: Request) -> Response:
        job = self._results_job(request)
        rows = ([i, "true" if c else "false", *(r.get(h, "") for h in job.header)]
                for i, c, r in job.succeeded)  # fmt: skip
        return self._csv(["sf__Id", "sf__Created", *job.header], rows)

    def failed(self, request: Request) -> Response:
        job = self._results_job(request)
        rows = ([i, e, *(r.get(h, "") for h in job.header)] for i, e, r in job.failed)
        return self._csv(["sf__Id", "sf__Error", *job.header], rows)

    def unprocessed(self, request: Request) -> Response:
        job = self._results_job(request)
        rows = ([r.get(h, "") for h in job.header] for r in job.rows[job.processed :])
        return self._csv(job.header, rows)

    # -- processing (a background thread, a chunk at a time under the org's lock) ----

    def _process_forever(self) -> None:
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            if self.hold:
                continue
            for job_id in list(self.app.bulk_jobs):
                job = self.app.bulk_jobs.get(job_id)
                if job is not None and job.kind == "ingest":
                    self._process(job)

    def _process(self, job: BulkJob) -> None:
        """A batch of 10,000 rows at a time under the org's lock (calls wait between batches),
        each chunk of 200 rows one transaction."""
        while job.state in ("UploadComplete", "InProgress") and not self.hold:
            with self.app.lock:
                if job.state == "UploadComplete":
                    job.state = "InProgress"
                    problem = self._header_problem(job)
                    if problem:
                        job.state, job.error = "Failed", f"InvalidBatch : {problem}"
                        return
                if job.state != "InProgress":
                    return
                index = self._index(job) if job.operation == "upsert" else {}
                end = min(job.processed + BATCH, len(job.rows))
                while job.processed < end:
                    start = job.processed
                    self._apply(job, job.rows[start : min(start + CHUNK, end)], index)
                    job.processed = min(start + CHUNK, end)
                self.app.changes += 1
                if job.processed >= len(job.rows):
                    job.state = "JobComplete"
            time.sleep(0.001)  # let waiting calls in between batches

    def _header_problem(self, job: BulkJob) -> str:
        fields = FIELDS[job.sobject]
        for name in job.header:
            head, _, rest = name.partition(".")
            if rest:
                spec = next(
                    (f for f in fields.values()
                     if (f.relationship_name or "").lower() == head.lower()),
                    None,
                )  # fmt: skip
                if spec is None:
                    return f"Field name not found : {name}"
            elif name.lower() not in fields:
                return f"Field name not found : {name}"
        if job.operation in ("update", "delete", "hardDelete") and "id" not in {
            h.lower() for h in job.header
        }:
            return "Field name not found : Id"
        if job.operation == "upsert" and job.external_id.lower() not in {
            h.lower() for h in job.header
        }:
            return f"Field name not found : {job.external_id}"
        return ""

    def _apply(self, job: BulkJob, rows: list[dict[str, str]], index: dict[str, list[str]]) -> None:
        """One chunk: each row saved (or refused) as the REST path would, one transaction."""
        tx = Transaction(snapshot={}, origin=job.origin)
        repeated = self._repeated(job) if job.operation == "upsert" else set()
        for row in rows:
            try:
                record_id, created = self._row(job, row, tx, job.username, repeated, index)
            except RecordError as exc:
                fields = ",".join(exc.fields)
                job.failed.append((row.get("Id", ""), f"{exc.code}:{exc.message}:{fields} --", row))
                continue
            job.succeeded.append((record_id, created, row))
        self.app.commit(tx)

    def _repeated(self, job: BulkJob) -> set[str]:
        if job.repeated is None:
            seen: dict[str, int] = {}
            for row in job.rows:
                key = self._value(job.external_id, row).lower()
                seen[key] = seen.get(key, 0) + 1
            job.repeated = {k for k, n in seen.items() if k and n > 1}
        return job.repeated

    def _index(self, job: BulkJob) -> dict[str, list[str]]:
        """External ID (lower case, as ``matching`` compares) -> Ids, built once a batch (the
        lock is held through it): ``app.matching``'s answer without a table scan per row."""
        spec = FIELDS[job.sobject][job.external_id.lower()]
        found: dict[str, list[str]] = {}
        for record in self.app.data[job.sobject].values():
            if record.get(spec.name) is not None:
                found.setdefault(str(record[spec.name]).lower(), []).append(record["Id"])
        return found

    @staticmethod
    def _value(name: str, row: Mapping[str, str]) -> str:
        for key, value in row.items():
            if key.lower() == name.lower():
                return value
        return ""

    def _values(self, job: BulkJob, row: Mapping[str, str]) -> dict[str, Any]:
        """A CSV row as the JSON body REST would get: typed values, parents by external ID.

        An empty value leaves the field as it is; ``#N/A`` sets it to null [P].
        """
        fields = FIELDS[job.sobject]
        body: dict[str, Any] = {}
        for name, text in row.items():
            if text == "":
                continue
            value: Any = None if text == NULL else text
            head, _, rest = name.partition(".")
            if rest:
                body[head] = {rest: value}
                continue
            spec: Field = fields[name.lower()]
            if value is not None and spec.type == "boolean":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise RecordError(
                        "INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{spec.name}: value not of required type: {text}",
                        [spec.name],
                    )
                value = text.lower() in ("true", "1")
            body[spec.name] = value
        try:
            return self.app.deserialize(job.sobject, body)
        except HttpError as exc:
            error = _first_error(exc)
            raise RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD"
                if error.get("errorCode") == "JSON_PARSER_ERROR"
                else str(error.get("errorCode")),
                str(error.get("message")),
                list(error.get("fields") or []),
            ) from None

    def _row(
        self,
        job: BulkJob,
        row: Mapping[str, str],
        tx: Transaction,
        user: str,
        repeated: set[str],
        index: dict[str, list[str]],
    ) -> tuple[str, bool]:
        app, sobject = self.app, job.sobject
        if job.operation in ("delete", "hardDelete"):
            record_id = self._value("Id", row)
            if app.type_of(record_id) != sobject:
                if app.deleted_type(record_id):
                    raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            app.remove(sobject, record_id, tx, user)
            return record_id, False
        values = self._values(job, row)
        if job.operation == "insert":
            if "Id" in values:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
            return app.save(sobject, values, tx, user), True
        if job.operation == "update":
            if not values.get("Id"):
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            return app.save(sobject, values, tx, user, values["Id"]), False
        name = FIELDS[sobject][job.external_id.lower()].name
        value = values.get(name)
        if not value:
            raise RecordError("MISSING_ARGUMENT", f"{name} not specified", [name])
        if str(value).lower() in repeated:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [name]
            )
        found = index.get(str(value).lower(), [])
        if len(found) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{name}: more than one record found for external id field: [{', '.join(found)}]",
                [name],
            )
        existing = found[0] if found else None
        record_id = app.save(sobject, values, tx, user, existing)
        if existing is None:
            index[str(value).lower()] = [record_id]
        return record_id, existing is None

    # -- query jobs -------------------------------------------------------------------

    def create_query(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, Mapping) or not body.get("query"):
            raise sf_error(400, "INVALIDJOB", "InvalidJob : query is required")
        operation = str(body.get("operation") or "query")
        if operation not in ("query", "queryAll"):
            raise sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        parsed = SoqlParser(str(body["query"])).query()
        if parsed.children:
            raise sf_error(
                400,
                "INVALIDJOB",
                "InvalidJob : Bulk API 2.0 query does not support nested (parent-to-child) queries",
            )
        rows = self.app.run_query(parsed, request.params["version"])
        job = self._new_job(request, "query", operation, parsed.entity)
        job.query = str(body["query"])
        job.header = list(parsed.fields)
        job.results = [[_csv_text(_pick(r, f)) for f in parsed.fields] for r in rows]
        job.processed = len(rows)
        job.state = "JobComplete"  # [A] answered at once here: the sandbox has no queue
        return json_response(job.info())

    def query_results(self, request: Request) -> Response:
        job = self._job(request, "query")
        if job.state != "JobComplete":
            raise sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}")
        start = _offset(request.arg("locator"))
        if start is None or start > len(job.results):
            raise sf_error(400, "INVALIDLOCATOR", "invalid locator")
        size = int(self.app.option("bulk_query_page", 50_000))
        asked = request.arg("maxRecords")
        if asked:
            if not asked.isdigit() or int(asked) < 1:
                raise sf_error(400, "INVALIDQUERYLOCATOR", "maxRecords must be a positive number")
            size = int(asked)
        page = job.results[start : start + size]
        end = start + len(page)
        response = self._csv(job.header, iter(page))
        response.headers["Sforce-NumberOfRecords"] = str(len(page))
        more = end < len(job.results)
        # An opaque string [P: "for example, MTAwMDA"], "null" after the last page [O].
        response.headers["Sforce-Locator"] = _locator(end) if more else "null"
        return response


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None) -> int | None:
    if not locator:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except ValueError:
        return None
    return int(text) if text.isdigit() else None


def _first_error(exc: HttpError) -> dict[str, Any]:
    try:
        body = json.loads(exc.response.body or b"[]")
    except ValueError:
        body = []
    return body[0] if isinstance(body, list) and body else {"errorCode": "UNKNOWN_EXCEPTION"}


def _pick(row: Mapping[str, Any], name: str) -> Any:
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
