"""HTTP calls with the retry and classification rules every connector shares.

Rules, in the order a call meets them:

* a permit from the shared ``RateLimiter`` first, so the limit is respected
  before it is hit;
* a connection that was never made (refused, connect timeout) is retried;
* 5xx, read timeouts and resets are retried with exponential backoff and
  jitter only when repeating the call cannot double a write (safe methods, or
  the caller says ``idempotent=True`` because it sent an idempotency key);
  otherwise they raise with ``outcome_unknown`` so the sync core settles the
  record by lookup before sending it again. A write repeated under an
  idempotency key that still fails in the end raises with ``outcome_unknown``
  too when any of its tries may have landed (sent, then no answer, or a 5xx):
  the key only replays the same request for a while, and the sync core may
  send the records again in another batch, under another key;
* 429 waits ``Retry-After`` when that is short, and raises
  ``RateLimitedError`` (carrying the wait) when it is long, so a job can
  reschedule itself instead of sleeping in a worker;
* 401 calls ``reauthenticate`` once (a token refresh) and repeats the call;
* every other failure becomes a ``ConnectorError`` whose kind follows from the
  status and whose code and message come from the connector's
  ``describe_error`` hook, which reads the system's own error body;
* before every try, the connection's ``CircuitBreaker`` (when given) gives
  leave or raises ``CircuitOpenError``; each try's 5xx, timeout or reset
  counts against it, and any other answer counts for it (connectors.circuit).

Credentials only ever go where the connection points: a call to any origin
(scheme, host, port) other than the base URL's, or one the connector names
(``extra_origins``), is refused before it is sent. Redirects are never followed
blindly (a 307 re-sends the body, client secret and all): sign-in calls
(``authenticated=False``) follow none, other calls follow only redirects to the
same origin that keep the method; anything else is a ``ConnectorError``.

Only method, path, status and timing are logged: never headers, query strings
or bodies, which carry tokens and customer data.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from connectors.circuit import CircuitState
from connectors.errors import (
    DEFAULT_MESSAGES,
    CircuitOpenError,
    ConnectorError,
    ErrorCode,
    ErrorKind,
    RateLimitedError,
)

if TYPE_CHECKING:
    from connectors.circuit import CircuitBreaker, Ticket
    from connectors.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
MAX_REDIRECTS = 5
FOREIGN_HOST = "foreign_host"
REDIRECTED = "redirected"
NOT_THE_API = "not_the_api"
DEFAULT_PORTS = {"http": 80, "https": 443}

ErrorDescriber = Callable[
    [requests.Response, Any], tuple[str, str] | tuple[str, str, ErrorKind] | None
]
"""(response, parsed body) -> (code, plain-English message), or None for the default.

A third item, the kind, overrides the status's kind where the system's own
error says more (a 400 that is the connection's set-up, not the record's); a
5xx stays transient whatever its body says, as the retries already treat it."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, including the first
    backoff_base: float = 0.5  # seconds before the second try; doubles each time
    backoff_max: float = 8.0
    max_retry_after: float = 10.0  # longer 429 waits raise RateLimitedError instead
    default_retry_after: float = 1.0  # when a 429 carries no Retry-After

    def backoff(self, attempt: int) -> float:
        """Equal jitter: never zero, never all workers at the same instant."""
        cap = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)


def classify_status(status: int) -> tuple[ErrorKind, ErrorCode]:
    if status == 401:
        return ErrorKind.AUTH, ErrorCode.UNAUTHORIZED
    if status == 403:
        return ErrorKind.AUTH, ErrorCode.FORBIDDEN
    if status == 404:
        return ErrorKind.DATA, ErrorCode.NOT_FOUND
    if status == 429:
        return ErrorKind.TRANSIENT, ErrorCode.RATE_LIMITED
    if status in (400, 409, 422):
        return ErrorKind.DATA, ErrorCode.VALIDATION
    if status == 413:  # batches are packed to the documented size: the record is too big
        return ErrorKind.DATA, ErrorCode.TOO_LARGE
    if status == 501:  # a call the system does not offer: retrying will not change it
        return ErrorKind.CONFIG, ErrorCode.BAD_REQUEST
    if status >= 500:
        return ErrorKind.TRANSIENT, ErrorCode.SERVER_ERROR
    return ErrorKind.CONFIG, ErrorCode.BAD_REQUEST


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given as seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def response_body(response: requests.Response) -> Any:
    """The parsed JSON body, else the text (cut short): what ``raw`` keeps."""
    try:
        return response.json()
    except ValueError:
        return response.text[:4000]


def origin_of(url: str) -> str:
    """``scheme://host:port`` with the default port spelled out: what a secret is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _refused_origin(url: str) -> ConnectorError:
    parts = urlsplit(url)
    return ConnectorError(
        ErrorKind.CONFIG,
        FOREIGN_HOST,
        f"A call to {parts.scheme}://{parts.netloc} was refused: it is not the address this "
        "connection was set up with, so its credentials are not sent there. Check the "
        "connection's base URL.",
    )


def _refused_redirect(response: requests.Response, *, sign_in: bool) -> ConnectorError:
    target = urlsplit(urljoin(response.url, response.headers.get("Location", "")))
    why = (
        "a sign-in call never follows a redirect"
        if sign_in
        else "only redirects to the same address that keep the request are followed"
    )
    return ConnectorError(
        ErrorKind.CONFIG,
        REDIRECTED,
        f"The system answered {response.status_code} and redirected to "
        f"{target.scheme}://{target.netloc}{target.path}; {why}, so nothing was sent there. "
        "Set the connection's base URL to the system's final address.",
        status=response.status_code,
    )


def not_the_api(system: str, response: requests.Response | None = None) -> ConnectorError:
    """For an answer that is not the system's API (a web page, a proxy, another service)."""
    seen = ""
    if response is not None:
        kind = response.headers.get("Content-Type") or "no content type"
        seen = f" (it answered HTTP {response.status_code}, {kind.split(';')[0]})"
    return ConnectorError(
        ErrorKind.CONFIG,
        NOT_THE_API,
        f"The address answered, but not as the {system} API does{seen}. "
        "Check the connection's base URL.",
    )


_SessionT = TypeVar("_SessionT", bound=requests.Session)


def refuse_redirects(session: _SessionT) -> _SessionT:
    """Make a sign-in session (e.g. requests-oauthlib's) raise on any redirect instead of
    re-sending its form, client secret included, wherever the ``Location`` points."""

    def refuse(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            raise _refused_redirect(response, sign_in=True)
        return response

    session.hooks["response"].append(refuse)
    return session


def is_outage(status: int) -> bool:
    """A status that says the system itself is failing (501 is a call it does not offer)."""
    return status >= 500 and status != 501


def _never_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _failure_reason(never_sent: bool, timed_out: bool) -> str:
    """A failed try in words for the dashboard: no URL, no exception text."""
    if never_sent:
        return "could not connect"
    return "no answer in time" if timed_out else "connection dropped"


def _reason(exc: requests.RequestException) -> str:
    """The exception's class and its innermost cause's class: no URL, no message text."""
    names = [type(exc).__name__]
    cause: BaseException | None = exc.args[0] if exc.args else None
    for _ in range(4):
        if not isinstance(cause, BaseException):
            break
        names.append(type(cause).__name__)
        inner = getattr(cause, "reason", None) or (cause.args[1] if len(cause.args) > 1 else None)
        cause = inner
    return " < ".join(names)


class HttpClient:
    """One system's HTTP session: base URL, auth headers, limiter, retries, error hooks.

    ``auth`` is called before every attempt, so a token refreshed between
    attempts is the one sent. ``on_response`` sees every response (e.g. to read
    rate-limit headers); ``rate_limit_of`` names the limit a 429 hit.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        auth: Callable[[], Mapping[str, str]] | None = None,
        reauthenticate: Callable[[], None] | None = None,
        describe_error: ErrorDescriber | None = None,
        rate_limit_of: Callable[[requests.Response], str | None] | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        breaker: CircuitBreaker | None = None,
        extra_origins: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.extra_origins = extra_origins
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.auth = auth
        self.reauthenticate = reauthenticate
        self.describe_error = describe_error
        self.rate_limit_of = rate_limit_of
        self.on_response = on_response
        self.session = session or requests.Session()
        self.sleep = sleep
        self.breaker = breaker

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def check_origin(self, url: str) -> None:
        """Raise unless ``url`` is on the base URL's origin or one the connector vouches for."""
        origin = origin_of(url)
        if origin == origin_of(self.base_url):
            return
        extra = self.extra_origins() if self.extra_origins is not None else ()
        if origin not in {origin_of(o) for o in extra if o}:
            raise _refused_origin(url)

    def _redirect_target(
        self, response: requests.Response, method: str, *, authenticated: bool
    ) -> str:
        """Where a redirect may be followed to, or raise: same origin, same method, API calls."""
        keeps_method = response.status_code in (307, 308) or method in ("GET", "HEAD")
        target = urljoin(response.url, response.headers["Location"])
        if not authenticated or not keeps_method:
            raise _refused_redirect(response, sign_in=not authenticated)
        if origin_of(target) != origin_of(response.url):
            raise _refused_redirect(response, sign_in=False)
        return target

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
        authenticated: bool = True,
    ) -> requests.Response:
        """Send one call with the shared rules; return the response or raise ConnectorError.

        ``accept`` lists error statuses the caller handles itself (e.g. 404 on
        a lookup). ``idempotent`` defaults to True for safe methods only.
        """
        method = method.upper()
        url = self.url(path)
        where = urlsplit(url).path
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        reauthenticated = False
        redirects = 0
        # A write some try of which may have been applied: if the call fails in
        # the end, whatever it raises says the outcome is unknown.
        maybe_applied = False
        writes = method not in SAFE_METHODS
        attempt = 0
        while True:
            attempt += 1
            last_try = attempt >= self.retry.attempts
            self.check_origin(url)
            send_headers = dict(headers or {})
            if authenticated and self.auth is not None:
                send_headers.update(self.auth())
            ticket = self._ticket(outcome_unknown=maybe_applied)
            started = time.monotonic()
            try:
                with self._slot(ticket):
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        data=data,
                        headers=send_headers,
                        timeout=self.timeout,
                        allow_redirects=False,
                    )
            except requests.RequestException as exc:
                never_sent = _never_sent(exc)
                timed_out = isinstance(exc, requests.Timeout)
                opened = self._count_failure(ticket, _failure_reason(never_sent, timed_out))
                maybe_applied = maybe_applied or (writes and not never_sent)
                logger.warning("%s %s failed (%s) on try %d", method, where, _reason(exc), attempt)
                if opened:  # this failure opened the breaker: the call waits with the rest
                    unknown = maybe_applied or (not never_sent and not repeatable)
                    raise self._open_error(outcome_unknown=unknown) from exc
                if (never_sent or repeatable) and not last_try:
                    self.sleep(self.retry.backoff(attempt))
                    continue
                unknown = maybe_applied or (not never_sent and not repeatable)
                code = ErrorCode.TIMEOUT if timed_out else ErrorCode.CONNECTION_FAILED
                if unknown:
                    code = ErrorCode.OUTCOME_UNKNOWN
                raise ConnectorError(
                    ErrorKind.TRANSIENT,
                    code,
                    DEFAULT_MESSAGES[code],
                    raw=type(exc).__name__,
                    outcome_unknown=unknown,
                ) from exc

            opened = self._count_answer(ticket, response.status_code)
            elapsed_ms = (time.monotonic() - started) * 1000
            logger.info("%s %s -> %d in %.0f ms", method, where, response.status_code, elapsed_ms)
            if self.on_response is not None:
                self.on_response(response)
            status = response.status_code
            if response.is_redirect:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise _refused_redirect(response, sign_in=False)
                url = self._redirect_target(response, method, authenticated=authenticated)
                attempt -= 1  # a redirect is not a failed try
                continue
            if status < 400 or status in accept:
                return response

            if status == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                wait = self.retry.default_retry_after if wait is None else wait
                if wait <= self.retry.max_retry_after and not last_try:
                    self.sleep(wait)
                    continue
                limit = self.rate_limit_of(response) if self.rate_limit_of else None
                body = response_body(response)
                refused = RateLimitedError(wait, limit=limit, status=429, raw=body)
                refused.outcome_unknown = maybe_applied  # this try did nothing; an earlier may have
                raise refused

            if status == 401 and self.reauthenticate is not None and not reauthenticated:
                reauthenticated = True
                self.reauthenticate()
                attempt -= 1  # a refresh is not a failed try
                continue

            maybe_applied = maybe_applied or (writes and is_outage(status))
            if opened:  # this 5xx opened the breaker: the call waits with the rest
                raise self._open_error(outcome_unknown=maybe_applied or not repeatable)
            if is_outage(status) and repeatable and not last_try:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                self.sleep(retry_after if retry_after is not None else self.retry.backoff(attempt))
                continue

            raise self.error_for(
                response,
                outcome_unknown=maybe_applied or (is_outage(status) and not repeatable),
            )

    def _ticket(self, *, outcome_unknown: bool) -> Ticket | None:
        """Leave from the breaker for one try; its refusal says whether an earlier try landed."""
        if self.breaker is None:
            return None
        try:
            return self.breaker.before_call()
        except CircuitOpenError as refused:
            refused.outcome_unknown = outcome_unknown
            raise

    @contextmanager
    def _slot(self, ticket: Ticket | None) -> Iterator[None]:
        """The rate limiter's permit; a probe the limiter holds back passes to the next caller."""
        try:
            with self.limiter.slot() if self.limiter else nullcontext():
                yield
        except RateLimitedError:
            if ticket is not None and self.breaker is not None:
                self.breaker.abandon(ticket)
            raise

    def _count_failure(self, ticket: Ticket | None, reason: str) -> bool:
        """Count a failed try against the breaker; True when the breaker is open after it."""
        if ticket is None or self.breaker is None:
            return False
        return self.breaker.failed(ticket, reason) is CircuitState.OPEN

    def _count_answer(self, ticket: Ticket | None, status: int) -> bool:
        """Count an answer for (or, a 5xx, against) the breaker; True when it is open after it."""
        if ticket is None or self.breaker is None:
            return False
        if is_outage(status):
            return self._count_failure(ticket, f"server error, HTTP {status}")
        self.breaker.succeeded(ticket)
        return False

    def _open_error(self, *, outcome_unknown: bool) -> CircuitOpenError:
        assert self.breaker is not None
        return self.breaker.refusal(outcome_unknown=outcome_unknown)

    def error_for(
        self, response: requests.Response, *, outcome_unknown: bool = False
    ) -> ConnectorError:
        """The classified error for a failed response, worded by the connector's hook."""
        kind, default_code = classify_status(response.status_code)
        body = response_body(response)
        described = self.describe_error(response, body) if self.describe_error else None
        code: str = default_code  # a common code, or the system's own (plain text)
        message = DEFAULT_MESSAGES[default_code]
        if described:
            code, message, *said = described
            if said and kind is not ErrorKind.TRANSIENT:
                kind = said[0]  # the system's own error names the kind
        if outcome_unknown:
            code, message = ErrorCode.OUTCOME_UNKNOWN, DEFAULT_MESSAGES[ErrorCode.OUTCOME_UNKNOWN]
        return ConnectorError(
            kind,
            code,
            message,
            status=response.status_code,
            raw=body,
            outcome_unknown=outcome_unknown,
        )
