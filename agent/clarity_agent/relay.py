"""The agent's loop: long-poll the server, check and perform each call, answer it.

Several pollers keep long-polls open at once without gaps (each poll is the heartbeat
the server judges "online" by), while a pool of threads performs the calls, so one slow
SYSPRO call holds up neither the others nor the next poll. The threads are split fairly
between the pollers: each poller owns a share and asks for no more calls than its free
share can start, so a call is not claimed long before it can start, and one poller's
batch cannot leave the others with nothing to ask for (with one shared budget the first
poll reserved every free thread and the others polled for nothing: about one poll was in
flight). Network trouble reaching the server is retried with capped exponential backoff;
a refused token waits 30 s (it will not become valid by hammering). Stopping finishes
the calls in hand. Protocol: README "On-premises agent" and the server's
connectors/agents/.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from clarity_agent import __version__
from clarity_agent.calls import Refused, check, request_id
from clarity_agent.config import Config
from clarity_agent.enet import Enet, error
from clarity_agent.logs import Redactor

logger = logging.getLogger("clarity_agent")

TOKEN_REFUSED_WAIT_S = 30.0
BACKOFF_MAX_S = 60.0
MAX_PER_POLL = 16  # the server's own bound
POLL_SLACK_S = 10.0  # beyond wait_s, for the server to answer a held poll
ANSWER_TIMEOUT_S = 30.0
# Long-polls kept open at once (at most; never more than threads), each with its share of
# the threads. Two: while one poll is on its way back with calls, the other waits at the
# server and takes the next call at once. More polls make smaller batches, so more poll
# requests per call: on the loaded benchmark machine 4 pollers cost the server 5.7 ms of
# CPU per call and served 53-67 calls/s, 2 pollers 4.1 ms and 85-98 calls/s
# (benchmarks/agent_relay.py).
MAX_POLLERS = 2


class TokenRefused(Exception):
    """The server answered 401: the token is unknown or revoked."""


class Agent:
    def __init__(self, config: Config, redactor: Redactor | None = None) -> None:
        self.config = config
        self.redactor = redactor or Redactor(config.secrets())
        self.enet = Enet(config, self.redactor)
        self.stopping = threading.Event()
        self._shares = [threading.Semaphore(n) for n in shares(config.threads)]
        self._pool = ThreadPoolExecutor(config.threads, thread_name_prefix="relay")
        self._server_settings = _server_settings(config)
        self._local = threading.local()
        self._host = config.host_name or socket.gethostname()
        self.calls = 0  # calls answered (any answer), for the stop message

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Poll until ``stop``; then finish the calls in hand and log off SYSPRO.

        The polls overlap: while one is on its way back with calls (a round trip through
        the server), the others already wait at the server for the next, so a burst of
        calls is not served one poll round trip at a time.
        """
        logger.info(
            "clarity-agent %s relaying to %s for %s",
            __version__,
            ", ".join(self.config.base_urls),
            self.config.server_url,
        )
        others = [
            threading.Thread(target=self._poll_loop, args=(share,), name=f"poll-{n}", daemon=True)
            for n, share in enumerate(self._shares[1:], start=2)
        ]
        for thread in others:
            thread.start()
        self._poll_loop(self._shares[0])
        for thread in others:
            thread.join()
        logger.info("stopping: finishing the calls in hand")
        self._pool.shutdown(wait=True)
        self.enet.logoff()
        logger.info("stopped after answering %d calls", self.calls)

    def _poll_loop(self, share: threading.Semaphore) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                batch = self.poll(share)
            except TokenRefused:
                logger.error(
                    "token refused by the server (unknown or revoked): ask an administrator "
                    "for a new agent token; trying again in %.0f s",
                    TOKEN_REFUSED_WAIT_S,
                )
                self.stopping.wait(TOKEN_REFUSED_WAIT_S)
                continue
            except (requests.RequestException, ValueError) as exc:
                failures += 1
                wait = backoff(failures)
                logger.warning(
                    "cannot poll the server (%s); trying again in %.1f s",
                    type(exc).__name__,
                    wait,
                )
                self.stopping.wait(wait)
                continue
            if failures:
                logger.info("connected to the server again")
            failures = 0
            received = time.monotonic()
            for request, held in batch:
                self._pool.submit(self._serve, request, received, share if held else None)

    def stop(self) -> None:
        self.stopping.set()

    def poll(self, share: threading.Semaphore) -> list[tuple[dict[str, Any], bool]]:
        """One long-poll for ``share``'s free threads: the calls handed to this agent
        (maybe none), each with whether it holds one of the threads reserved for it."""
        held = self._reserve(share)
        try:
            response = self._server().post(
                f"{self.config.server_url}/agent/v1/poll",
                json={
                    "agent_version": __version__,
                    "host": self._host,
                    "wait_s": self.config.poll_wait_s,
                    "max": max(held, 1),
                },
                timeout=(self.config.connect_timeout_s, self.config.poll_wait_s + POLL_SLACK_S),
                **self._server_settings,
            )
            if response.status_code == 401:
                raise TokenRefused
            batch = [] if response.status_code == 204 else _requests(response)
        except BaseException:
            _release(share, held)
            raise
        kept = min(len(batch), held)
        _release(share, held - kept)
        return [(request, index < kept) for index, request in enumerate(batch)]

    def _reserve(self, share: threading.Semaphore) -> int:
        """Reserve the share's free threads (up to the server's bound) for the calls a
        poll brings.

        With all of the share busy, wait a little for one, then poll anyway: the poll is
        the heartbeat and must not stop; a call it brings beyond the free threads waits
        in the pool's queue.
        """
        if not share.acquire(timeout=self.config.poll_wait_s):
            return 0
        held = 1
        while held < MAX_PER_POLL and share.acquire(blocking=False):
            held += 1
        return held

    # -- one call -----------------------------------------------------------------------

    def _serve(
        self, request: dict[str, Any], received: float, share: threading.Semaphore | None
    ) -> None:
        try:
            self._serve_checked(request, received)
        except Exception:
            logger.exception("call %s failed inside the agent", str(request_id(request))[:8])
        finally:
            if share is not None:
                share.release()

    def _serve_checked(self, request: dict[str, Any], received: float) -> None:
        rid = request_id(request)
        if rid is None:
            logger.warning("ignored a call without a valid id")
            return
        try:
            call = check(
                request,
                max_bytes=self.config.max_request_bytes,
                max_deadline_s=self.config.max_deadline_s,
            )
        except Refused as exc:
            logger.warning("call %s refused: %s", rid[:8], exc)
            self.answer(rid, error("refused", str(exc)), received + 30)
            return
        deadline = received + call.deadline_s
        if time.monotonic() >= deadline:
            logger.warning("call %s came past its deadline: not sent", rid[:8])
            return
        started = time.monotonic()
        answer = self.enet.perform(call, deadline)
        logger.info(
            "call %s %s → %s in %.0f ms",
            rid[:8],
            call.operation,
            answer.get("status") or answer.get("error"),
            (time.monotonic() - started) * 1000,
        )
        self.answer(rid, answer, deadline)

    def answer(self, rid: str, answer: dict[str, Any], deadline: float) -> None:
        """Post the answer; network trouble is retried until the deadline (a second copy
        is refused by the server, 409, so retrying cannot deliver twice)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._server().post(
                    f"{self.config.server_url}/agent/v1/answer",
                    json={"id": rid, **answer},
                    timeout=(self.config.connect_timeout_s, ANSWER_TIMEOUT_S),
                    **self._server_settings,
                )
            except requests.RequestException as exc:
                if time.monotonic() + backoff(attempt) >= deadline or self.stopping.is_set():
                    logger.warning(
                        "call %s: answer not delivered (%s)", rid[:8], type(exc).__name__
                    )
                    return
                time.sleep(backoff(attempt))
                continue
            self.calls += 1
            if response.status_code == 204:
                return
            if response.status_code == 409:
                logger.warning("call %s: the server no longer waits for this answer", rid[:8])
            elif response.status_code == 401:
                logger.error("call %s: token refused by the server (unknown or revoked)", rid[:8])
            else:
                logger.warning(
                    "call %s: the server refused the answer (%s)", rid[:8], response.status_code
                )
            return

    def _server(self) -> requests.Session:
        """One session per thread to the server, with the token. It reads nothing from
        the environment per call (``_server_settings`` did, once)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {self.config.token}"
            session.headers["User-Agent"] = f"clarity-agent/{__version__}"
            self._local.session = session
        return session


def _server_settings(config: Config) -> dict[str, Any]:
    """Proxies (``HTTPS_PROXY``/``NO_PROXY``, as a customer's network may need them) and
    the CA bundle for the server, read from the environment once at start.

    requests reads them again for every call of a session that trusts the environment,
    and looks for a ``.netrc`` each time, which cost a fifth of the agent's busy time
    under load (py-spy, benchmarks/agent_relay.py); a ``.netrc`` entry for the server
    would also replace the agent's bearer token with its password.
    """
    settings = requests.Session().merge_environment_settings(
        config.server_url, {}, None, config.verify_tls, None
    )
    return {"proxies": settings["proxies"], "verify": settings["verify"]}


def shares(threads: int) -> list[int]:
    """How many of the ``threads`` each poller may ask calls for: as even as can be,
    one poller per share, at most MAX_POLLERS of them."""
    pollers = max(1, min(MAX_POLLERS, threads))
    return [threads // pollers + (1 if n < threads % pollers else 0) for n in range(pollers)]


def _release(share: threading.Semaphore, count: int) -> None:
    for _ in range(count):
        share.release()


def _requests(response: requests.Response) -> list[Any]:
    response.raise_for_status()
    body = response.json()
    batch = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(batch, list):
        raise ValueError("the server's poll answer has no list of requests")
    return batch


def backoff(failures: int) -> float:
    """Capped exponential backoff with jitter: 1, 2, 4 … 60 s, each ±25 %."""
    base = min(BACKOFF_MAX_S, 2.0 ** max(failures - 1, 0))
    return base * random.uniform(0.75, 1.25)
