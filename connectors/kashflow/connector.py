"""KashFlow REST API v2 connector.

KashFlow signs in with a password *and* three characters of a memorable word,
in two calls, and answers a session token that dies after an hour idle. The
session is kept in the ``TokenStore`` so every worker of a connection shares
one; when KashFlow answers 401 the connector signs in again under the store's
lock, and a worker that finds a newer session there uses it instead.

KashFlow offers no "modified since" filter, no idempotency key and no batch
create for customers or invoices, so this connector:

* reads every page (``sortby`` the key, ``Asc``) and keeps records whose
  ``LastUpdatedDate`` is at or after the cursor (inclusive, so a record saved
  in the cursor's second is read again rather than missed; the ledger skips
  repeats). A record without ``LastUpdatedDate`` (the docs list it for
  customers only) is always kept, which makes that read a full read;
* fetches each changed customer and invoice singly, because list summaries
  leave ``LineItems``, ``PaymentLines``, ``Currency`` and contacts out;
* looks every record up by its reference (customer or product ``Code``, invoice
  ``Number`` or ``CustomerReference``, payment invoice/date/amount) before
  creating it, so a retry updates or settles instead of doubling;
* writes customers, products and invoices one call each, and payments through
  ``/invoices/bulk/payments`` in the largest batch the connection allows.

``ConnectionConfig`` keys — settings: ``username`` (required), ``page_size``
(100), ``max_bulk_payments`` (100), ``payment_account_id`` (1) and
``payment_method`` (3, BACS) as defaults for payments that name none,
``rate_limits`` (``per_minute``/``per_day``/``concurrent``) and
``rate_limit_max_wait`` for the shared limiter; secrets: ``password``,
``memorable_word``. ``base_url`` is the API host (``https://api.kashflow.com``);
a trailing ``/v2`` is tolerated.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from decimal import InvalidOperation
from typing import Any

import requests

from connectors.base import (
    ChangePage,
    ConnectionCheck,
    ConnectionConfig,
    Connector,
    EntitySchema,
    FoundRecord,
    Record,
    Tokens,
    TokenStore,
    WriteOutcome,
)
from connectors.circuit import CircuitBreaker
from connectors.compare import already_held
from connectors.errors import (
    CircuitOpenError,
    ConnectorError,
    ErrorCode,
    ErrorKind,
    RetryLaterError,
)
from connectors.factory import Shared, connector_factory, http_client
from connectors.http import RetryPolicy, not_the_api
from connectors.kashflow.catalogue import SCHEMAS, WRITABLE
from connectors.kashflow.dependencies import DEPENDENCIES
from connectors.kashflow.duplicates import DUPLICATES
from connectors.kashflow.errors import describe_error, error_fields, outcome_of
from connectors.kashflow.records import (
    customer_flat,
    customer_nested,
    parse_stamp,
    payment_reference,
)
from connectors.ratelimit import RateLimiter, RateLimits

API = "/v2"

DEFAULT_LIMITS = RateLimits(per_minute=60, concurrent=2)
"""KashFlow publishes no limits [O/A]; a conservative budget for the shared limiter."""

SEQUENTIAL_BATCH = 50
"""Customers and invoices go one per call; this bounds how long one batch runs."""


class KashFlowConnector(Connector):
    system = "kashflow"
    dependencies = DEPENDENCIES
    duplicates = DUPLICATES

    def __init__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        limiter: RateLimiter | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(config, tokens, limiter, breaker)
        settings = self.config.settings
        self.page_size = int(settings.get("page_size", 100))
        self.bulk_payments = int(settings.get("max_bulk_payments", 100))
        self._sent = threading.local()  # the session token this thread last sent
        self.http = http_client(
            self,
            re.sub(r"/v2/?$", "", self.config.base_url.rstrip("/")),
            timeout=timeout,
            retry=retry,
            auth=self._auth_header,
            reauthenticate=self._relogon,
            describe_error=describe_error,
        )

    # -- session --------------------------------------------------------------

    def _auth_header(self) -> dict[str, str]:
        tokens = self.tokens.load() or self.tokens.refresh_locked(
            lambda current: current or self._logon()
        )
        self._sent.token = tokens.access_token
        return {"Authorization": f"KfToken {tokens.access_token}"}

    def _relogon(self) -> None:
        """Sign in again, unless another worker already replaced the refused session."""
        refused = getattr(self._sent, "token", None)
        self.tokens.refresh_locked(
            lambda current: (
                current if current and current.access_token != refused else self._logon()
            )
        )

    def _logon(self) -> Tokens:
        username = self.config.settings.get("username")
        password = self.config.secrets.get("password")
        word = self.config.secrets.get("memorable_word")
        if not (username and password and word):
            raise ConnectorError(
                ErrorKind.CONFIG,
                "missing_credentials",
                "The KashFlow connection needs a username, password and memorable word.",
            )
        try:
            return self._logon_once(username, password, word)
        except ConnectorError as exc:
            # A retried PUT whose first try landed finds its one-use token spent.
            if exc.code != "invalid_temporary_token":
                raise
        return self._logon_once(username, password, word)

    def _logon_once(self, username: str, password: str, word: str) -> Tokens:
        first = self._logon_call("POST", {"UserName": username, "Password": password})
        positions = [int(item["Position"]) for item in first.get("MemorableWordList") or []]
        if any(not 1 <= p <= len(word) for p in positions):
            raise ConnectorError(
                ErrorKind.AUTH,
                "invalid_memorable_word",
                "KashFlow asked for a character past the end of the saved memorable word. "
                "Check the memorable word saved on the connection.",
            )
        answer = [{"Position": p, "Value": word[p - 1]} for p in positions]
        session = self._logon_call(
            "PUT", {"TemporaryToken": first.get("TemporaryToken"), "MemorableWordList": answer}
        )
        return Tokens(
            access_token=str(session["SessionToken"]),
            extra={
                "username": username,
                "company_name": session.get("CompanyName"),
                "signed_in_at": time.time(),
            },
        )

    def _logon_call(self, method: str, body: Record) -> Record:
        response = self.http.request(
            method,
            f"{API}/sessiontoken",
            json=body,
            authenticated=False,
            idempotent=True,
            accept=(400, 401, 403),  # no re-logon loop on a refused logon
        )
        if response.status_code >= 400:
            error = self.http.error_for(response)
            kind = (
                ErrorKind.TRANSIENT if error.code == "invalid_temporary_token" else ErrorKind.AUTH
            )
            raise ConnectorError(
                kind, error.code, error.message, status=error.status, raw=error.raw
            )
        answer: Record | None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise not_the_api("KashFlow", response)  # a web page, not a sign-in answer
        return answer

    # -- reads ----------------------------------------------------------------

    def entities(self) -> list[str]:
        return list(SCHEMAS)

    def _schema(self, entity: str) -> EntitySchema:
        schema = SCHEMAS.get(entity)
        if schema is None:
            raise ConnectorError(
                ErrorKind.CONFIG,
                "unknown_entity",
                f"KashFlow has no '{entity}' here; use one of {', '.join(SCHEMAS)}.",
            )
        return schema

    def _pages(self, entity: str) -> Iterator[tuple[list[Record], bool]]:
        """Every page of a list as (records, is_last), following ``NextPageUrl``."""
        key = SCHEMAS[entity].key_field
        url: str | None = f"{API}/{entity}"
        params: dict[str, Any] | None = {
            "page": 1,
            "perpage": self.page_size,
            "sortby": key,
            "order": "Asc",
        }
        while url:
            body = self.http.request("GET", url, params=params).json()
            if isinstance(body, list):  # some KashFlow lists are bare arrays [O]
                yield body, True
                return
            url = (body.get("MetaData") or {}).get("NextPageUrl")
            params = None  # NextPageUrl carries the query
            yield list(body.get("Data") or []), not url

    def _get(self, path: str) -> Record | None:
        response = self.http.request("GET", path, accept=(404,))
        if response.status_code == 404:
            return None
        found: Record = response.json()
        return found

    def _expand(self, entity: str, summary: Record) -> list[Record]:
        """The full records behind one list summary (payments: its invoice's lines)."""
        if entity in ("products", "nominalcodes"):
            return [summary]
        if entity == "customers":
            detail = self._get(f"{API}/customers/{summary['Code']}")
            return [customer_flat(detail)] if detail else []
        if entity == "payments" and not summary.get("TotalPaidAmount"):
            return []
        invoice = self._get(f"{API}/invoices/{summary['Number']}")
        if invoice is None or entity == "invoices":
            return [invoice] if invoice else []
        return [
            {**line, "InvoiceNumber": invoice["Number"], "CustomerCode": invoice["CustomerCode"]}
            for line in invoice.get("PaymentLines") or []
        ]

    def read_changes(self, entity: str, cursor: str | None) -> Iterator[ChangePage]:
        """Pages of records changed at or after ``cursor`` (a ``LastUpdatedDate``).

        The cursor only moves on the last page: pages are in key order, not
        time order, so an earlier page's newest time is not yet safe to store.
        Payments are read through the invoices they changed.
        """
        self._schema(entity)
        since = parse_stamp(cursor)
        newest = since
        listed = "invoices" if entity == "payments" else entity
        for summaries, last in self._pages(listed):
            records: list[Record] = []
            for summary in summaries:
                changed = parse_stamp(summary.get("LastUpdatedDate"))
                if since and changed and changed < since:
                    continue
                if changed and (newest is None or changed > newest):
                    newest = changed
                records.extend(self._expand(entity, summary))
            moved = newest.strftime("%Y-%m-%dT%H:%M:%S") if last and newest else cursor
            yield ChangePage(records, moved)

    def read_one(self, entity: str, key: str) -> Record | None:
        """By Code (customers, products), Number (invoices), ``<invoice>/<Id>`` (payments)."""
        self._schema(entity)
        if entity == "payments":
            number, _, payment_id = key.partition("/")
            invoice = self._get(f"{API}/invoices/{number}")
            lines = (invoice or {}).get("PaymentLines") or []
            line = next((p for p in lines if str(p.get("Id")) == payment_id), None)
            return None if invoice is None or line is None else {**line, "InvoiceNumber": number}
        if entity == "customers":
            found = self._get(f"{API}/customers/{key}")
            return customer_flat(found) if found else None
        if entity == "nominalcodes":
            pages = (page for page, _ in self._pages(entity))
            return next((n for page in pages for n in page if str(n["Code"]) == key), None)
        return self._get(f"{API}/{entity}/{key}")

    # find_by_fields is the base's indexed full read, kept for the run: KashFlow's REST lists
    # take only page, perpage, sortby and order [O] (systems/kashflow.md, from integrators'
    # code), so there is no filter by a name or an email to ask for.

    def find_by_reference(self, entity: str, reference: str) -> FoundRecord | None:
        """Customers by Code; invoices by Number or ``CustomerReference``; payments by
        ``<invoice>|<YYYY-MM-DD>|<amount>`` (see ``payment_reference``)."""
        schema = self._schema(entity)
        if entity == "payments":
            number = reference.split("|", 1)[0]
            invoice = self._get(f"{API}/invoices/{number}")
            line = self._matching_payment(invoice, reference)
            if invoice is None or line is None:
                return None
            return FoundRecord(f"{number}/{line['Id']}", {**line, "InvoiceNumber": number})
        if entity == "invoices" and not reference.isdigit():
            matches = self._invoices_by_reference().get(reference, [])
            if len(matches) > 1:
                raise ConnectorError(
                    ErrorKind.DATA,
                    "ambiguous_reference",
                    f"KashFlow has {len(matches)} invoices with the reference '{reference}' "
                    f"(numbers {', '.join(str(m['Number']) for m in matches)}). "
                    "Delete or re-reference the duplicates in KashFlow.",
                )
            return FoundRecord(str(matches[0]["Number"]), matches[0]) if matches else None
        found = self.read_one(entity, reference)
        return FoundRecord(str(found[schema.key_field]), found) if found else None

    def _invoices_by_reference(self) -> dict[str, list[Record]]:
        index: dict[str, list[Record]] = defaultdict(list)
        for page, _ in self._pages("invoices"):
            for summary in page:
                if summary.get("CustomerReference"):
                    index[str(summary["CustomerReference"])].append(summary)
        return index

    @staticmethod
    def _matching_payment(invoice: Record | None, reference: str) -> Record | None:
        lines = (invoice or {}).get("PaymentLines") or []
        number = reference.split("|", 1)[0]
        return next(
            (p for p in lines if payment_reference(number, p["Date"], p["Amount"]) == reference),
            None,
        )

    # -- writes ---------------------------------------------------------------

    def max_batch_size(self, entity: str) -> int:
        self._schema(entity)
        return self.bulk_payments if entity == "payments" else SEQUENTIAL_BATCH

    def write_batch(self, entity: str, records: Sequence[Record]) -> list[WriteOutcome]:
        """Each record is looked up by its reference first, then updated or created.

        A call that fails for one record is that record's outcome. After a
        failure no other record could escape (sign-in, rate limit), the rest
        fail the same way without being sent.
        """
        self._schema(entity)
        if entity not in WRITABLE:
            raise ConnectorError(
                ErrorKind.CONFIG, "read_only_entity", f"KashFlow {entity} can only be read here."
            )
        if len(records) > self.max_batch_size(entity):
            raise ConnectorError(
                ErrorKind.CONFIG,
                "batch_too_large",
                f"At most {self.max_batch_size(entity)} KashFlow {entity} can be sent at once.",
            )
        if entity == "payments":
            return self._write_payments(records)
        if entity == "customers":
            return self._each(records, self._write_customer)
        if entity == "products":
            return self._each(records, self._write_product)
        index = self._invoices_by_reference() if records else {}
        return self._each(records, lambda record: self._write_invoice(record, index))

    @staticmethod
    def _each(
        records: Sequence[Record], write: Callable[[Record], WriteOutcome]
    ) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        stop: WriteOutcome | None = None
        for record in records:
            if stop is not None:
                outcomes.append(stop)
                continue
            try:
                outcomes.append(write(record))
            except ConnectorError as exc:
                if isinstance(exc, CircuitOpenError) and not outcomes:
                    raise  # nothing of the batch was sent: the run waits with it unsent
                outcomes.append(outcome_of(exc))
                if isinstance(exc, RetryLaterError) or exc.kind is ErrorKind.AUTH:
                    stop = outcomes[-1]
        return outcomes

    def _save(self, method: str, path: str, record: Record) -> Record:
        saved: Record = self.http.request(method, path, json=record).json()
        return saved

    def _write_customer(self, record: Record) -> WriteOutcome:
        code = str(record.get("Code") or "").strip().upper()
        if not code:
            return WriteOutcome.failed(
                ErrorKind.DATA,
                "missing_code",
                "The customer has no KashFlow account code (Code), so it could be created "
                "twice. Fill in the account number in the source or map one to Code.",
                raw=record,
            )
        existing = self._get(f"{API}/customers/{code}")
        return self._upsert("customers", code, customer_nested(record, existing), existing)

    def _write_product(self, record: Record) -> WriteOutcome:
        code = str(record.get("Code") or "").strip()
        if not code:
            return WriteOutcome.failed(
                ErrorKind.DATA,
                "missing_code",
                "The product has no KashFlow product code (Code), so it could be created "
                "twice. Fill in the product code in the source or map one to Code.",
                raw=record,
            )
        existing = self._get(f"{API}/products/{code}")
        return self._upsert("products", code, record, existing)

    def _upsert(
        self, entity: str, code: str, body: Record, existing: Record | None
    ) -> WriteOutcome:
        """Update the record with this Code, or create it; an update changing nothing is not sent.

        Why skip: a PUT that changes nothing still moves ``LastUpdatedDate`` (and a
        product's content), which the other side of a both-ways sync would read as a
        new change and send back.
        """
        if existing is not None:
            if self.config.settings.get("skip_unchanged", True) and already_held(
                {k: v for k, v in body.items() if k != "Code"}, existing
            ):
                return WriteOutcome.updated(code, raw={"unchanged": True})
            saved = self._save("PUT", f"{API}/{entity}/{code}", body)
            return WriteOutcome.updated(code, raw=saved)
        saved = self._save("POST", f"{API}/{entity}", {**body, "Code": code})
        return WriteOutcome.created(str(saved["Code"]), raw=saved)

    def _write_invoice(self, record: Record, index: dict[str, list[Record]]) -> WriteOutcome:
        number = str(record.get("Number") or "")
        reference = str(record.get("CustomerReference") or "")
        if not (number or reference):
            return WriteOutcome.failed(
                ErrorKind.DATA,
                "missing_reference",
                "The invoice has neither a number nor a customer reference, so it could be "
                "created twice. Map the source's invoice or order reference to "
                "CustomerReference.",
                raw=record,
            )
        existing = self._get(f"{API}/invoices/{number}") if number else None
        if existing is None and not number:
            matches = index.get(reference, [])
            if len(matches) > 1:
                return WriteOutcome.failed(
                    ErrorKind.DATA,
                    "ambiguous_reference",
                    f"KashFlow already has {len(matches)} invoices with the reference "
                    f"'{reference}'. Delete or re-reference the duplicates in KashFlow.",
                    raw=matches,
                )
            existing = matches[0] if matches else None
        if existing is not None:
            target = str(existing["Number"])
            saved = self._save("PUT", f"{API}/invoices/{target}", record)
            return WriteOutcome.updated(target, raw=saved)
        saved = self._save("POST", f"{API}/invoices", record)
        if reference:
            index[reference].append(saved)
        return WriteOutcome.created(str(saved["Number"]), raw=saved)

    def _write_payments(self, records: Sequence[Record]) -> list[WriteOutcome]:
        """Settle payments KashFlow already holds, then send the rest in bulk calls.

        KashFlow's bulk call takes one bank account, method and comment for all
        its items, so records are grouped by those.
        """
        outcomes: list[WriteOutcome | None] = [None] * len(records)
        invoices: dict[str, Record | None] = {}
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        settings = self.config.settings
        for i, record in enumerate(records):
            number = str(record.get("InvoiceNumber") or record.get("ObjectNumber") or "")
            date = record.get("Date") or record.get("PaidDate")
            try:
                reference = payment_reference(number, date, record.get("Amount"))
            except InvalidOperation:
                reference = ""
            if not (number and date and reference):
                outcomes[i] = WriteOutcome.failed(
                    ErrorKind.DATA,
                    "incomplete_payment",
                    "The payment needs an invoice number, a date and an amount.",
                    raw=record,
                )
                continue
            try:
                if number not in invoices:
                    invoices[number] = self._get(f"{API}/invoices/{number}")
            except CircuitOpenError:
                raise  # only lookups so far, nothing sent: the run waits with the batch
            except ConnectorError as exc:
                outcomes[i] = outcome_of(exc)
                continue
            line = self._matching_payment(invoices[number], reference)
            if line is not None:
                outcomes[i] = WriteOutcome.created(
                    f"{number}/{line['Id']}", raw={"AlreadyRecorded": True, **line}
                )
                continue
            batch = (
                record.get("AccountId") or settings.get("payment_account_id", 1),
                record.get("Method") or settings.get("payment_method", 3),
                record.get("Comment") or "",
                bool(record.get("Reconciled")),
            )
            groups[batch].append(i)
        for n, ((account, method, comment, reconciled), members) in enumerate(groups.items()):
            body = {
                "Date": str(records[members[0]].get("Date") or records[members[0]]["PaidDate"]),
                "Comment": comment,
                "AccountId": account,
                "Method": method,
                "Reconciled": reconciled,
                "PaymentItems": [self._payment_item(records[i]) for i in members],
            }
            for i, outcome in zip(members, self._send_payments(body, first=n == 0), strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _payment_item(record: Record) -> Record:
        return {
            "Id": 0,
            "Amount": record["Amount"],
            "ObjectNumber": int(record.get("InvoiceNumber") or record["ObjectNumber"]),
            "PaidDate": str(record.get("Date") or record["PaidDate"]),
        }

    def _send_payments(self, body: Record, *, first: bool) -> list[WriteOutcome]:
        """One bulk call; ``first`` when no other call of the batch was sent before it."""
        items = body["PaymentItems"]
        try:
            answer = self.http.request("POST", f"{API}/invoices/bulk/payments", json=body).json()
        except ConnectorError as exc:
            if isinstance(exc, CircuitOpenError) and first:
                raise  # nothing of the batch was sent: the run waits with it unsent
            return [outcome_of(exc)] * len(items)
        results = answer.get("Data") if isinstance(answer, dict) else answer
        outcomes = []
        for item, result in zip(items, results or [], strict=False):
            if result.get("Success"):
                target = f"{item['ObjectNumber']}/{result['Id']}"
                outcomes.append(WriteOutcome.created(target, raw=result))
                continue
            code, message, kind = error_fields(result) or (
                "validation",
                "KashFlow refused the payment.",
                None,
            )
            outcomes.append(WriteOutcome.failed(kind or ErrorKind.DATA, code, message, raw=result))
        missing = len(items) - len(outcomes)
        unknown = WriteOutcome.failed(
            ErrorKind.TRANSIENT,
            "outcome_unknown",
            "KashFlow did not say what became of this payment; it will be checked before "
            "it is sent again.",
            raw=answer,
        )
        return outcomes + [unknown] * missing

    # -- catalogue and health -------------------------------------------------

    def describe(self, entity: str) -> EntitySchema:
        return self._schema(entity)

    def test_connection(self) -> ConnectionCheck:
        try:
            response = self.http.request(
                "GET", f"{API}/customers", params={"page": 1, "perpage": 1}
            )
            if not _is_kashflow_list(response):
                raise not_the_api("KashFlow", response)
            headroom = self.limiter.headroom() if self.limiter else None
        except ConnectorError as exc:
            reachable = exc.code not in (ErrorCode.CONNECTION_FAILED, ErrorCode.TIMEOUT)
            return ConnectionCheck(reachable, message=exc.message, kind=exc.kind)
        except Exception as exc:  # the button must answer, whatever broke
            return ConnectionCheck(
                False, message=f"The test failed: {type(exc).__name__}.", kind=ErrorKind.TRANSIENT
            )
        tokens = self.tokens.load()
        extra = tokens.extra if tokens else {}
        who = f"{extra.get('username')} at {extra.get('company_name')}"
        return ConnectionCheck(
            True, connected_as=who, headroom=headroom, message=f"Connected to KashFlow as {who}."
        )


def _is_kashflow_list(response: requests.Response) -> bool:
    """KashFlow lists come as ``{"Data": [...], "MetaData": {...}}``."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("Data"), list)


# -- the factory -------------------------------------------------------------------

# KashFlow publishes no limits; one budget per connection (one login) [A], see DEFAULT_LIMITS.
kashflow_connector = connector_factory(KashFlowConnector, Shared("KashFlow", DEFAULT_LIMITS))
