"""A fake agent written here (not the agent/ program): it long-polls the live server's
relay endpoints over real HTTP and relays each call to a SYSPRO sandbox only it knows."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from typing import Any

import django_rq
import pytest
import requests

from connectors.agents.models import Agent
from connectors.agents.services import agent_create
from connectors.models import Connection, System
from connectors.syspro.wire import unwrap

# An address the server cannot reach: the server learns no SYSPRO address at all.
UNREACHABLE_SYSPRO = "https://syspro.customer.invalid/SYSPROWCFService/Rest"
SYSPRO_CREDENTIALS = {
    "Operator": "ADMIN",
    "OperatorPassword": "demo",
    "CompanyId": "EDU1",
    "CompanyPassword": "demo",
}


@pytest.fixture(autouse=True)
def empty_relay() -> Iterator[None]:
    """Relay keys carry connection ids, which a new test database may hand out again."""
    redis = django_rq.get_connection("default")
    keys = list(redis.scan_iter("clarity:agent:*", count=1000))
    if keys:
        redis.delete(*keys)
    yield


class FakeAgent:
    """Polls, relays to ``syspro_url`` (logging on itself when the call's session is the
    agent's) and answers; ``hold`` names calls it takes and never answers (a hung agent)."""

    def __init__(
        self,
        server_url: str,
        token: str,
        syspro_url: str,
        *,
        hold: Callable[[dict[str, Any]], bool] = lambda request: False,
        refuse: Callable[[dict[str, Any]], bool] = lambda request: False,
        die_after: int | None = None,
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.syspro_url = syspro_url.rstrip("/")
        self.hold = hold
        self.refuse = refuse
        self.die_after = die_after  # calls answered before it dies holding the next one
        self.sent_to_syspro = 0  # every connection this agent opened to SYSPRO
        self.taken: list[dict[str, Any]] = []
        self.answers: list[int] = []  # the relay's status for each answer sent
        self.session_id = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> FakeAgent:
        self.poll(wait_s=0)  # a first heartbeat before anything is relayed
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def poll(self, *, wait_s: float = 1) -> requests.Response:
        return requests.post(
            f"{self.server_url}/agent/v1/poll",
            json={"agent_version": "test-1", "host": "fake-host", "wait_s": wait_s},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            response = self.poll()
            if response.status_code != 200:
                continue
            for request in response.json()["requests"]:
                self.taken.append(request)
                if self.die_after is not None and len(self.taken) > self.die_after:
                    self._stop.set()  # killed: the call in hand is never answered
                    return
                if self.refuse(request):
                    refusal = {"error": "refused", "message": "path not allowed"}
                    self.answer(request["id"], refusal)
                elif not self.hold(request):
                    self.answer(request["id"], self.relay(request))

    def relay(self, request: dict[str, Any]) -> dict[str, Any]:
        query = dict(request["query"])
        if request["session"] == "agent":
            if not self.session_id:
                logon = requests.get(
                    f"{self.syspro_url}/SYSPROWCFService/Rest/Logon",
                    params=SYSPRO_CREDENTIALS,
                    timeout=10,
                )
                self.sent_to_syspro += 1
                self.session_id = unwrap(logon.text)
            query["UserId"] = self.session_id
        self.sent_to_syspro += 1
        answer = requests.request(
            request["method"],
            self.syspro_url + request["path"],
            params=query,
            data=base64.b64decode(request["body_b64"]),
            timeout=request["deadline_s"],
        )
        return {
            "status": answer.status_code,
            "headers": dict(answer.headers),
            "body_b64": base64.b64encode(answer.content).decode(),
        }

    def answer(self, request_id: str, answer: dict[str, Any]) -> requests.Response:
        response = requests.post(
            f"{self.server_url}/agent/v1/answer",
            json={"id": request_id, **answer},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        self.answers.append(response.status_code)
        return response


@pytest.fixture
def agent_connection(transactional_db: None) -> Callable[..., Connection]:
    def make(name: str = "SYSPRO on premises", **settings: Any) -> Connection:
        return Connection.objects.create(
            system=System.SYSPRO,
            name=name,
            base_url=UNREACHABLE_SYSPRO,
            settings={
                "company_id": "EDU1",
                "operator": "ADMIN",
                "through_agent": True,
                "timeout": 2,
                **settings,
            },
        )

    return make


@pytest.fixture
def new_agent() -> Callable[..., tuple[Agent, str]]:
    counter = iter(range(1, 1000))

    def make(connection: Connection, name: str = "") -> tuple[Agent, str]:
        return agent_create(connection=connection, name=name or f"agent {next(counter)}")

    return make


@pytest.fixture
def fake_agents() -> Iterator[list[FakeAgent]]:
    """Agents started by a test are stopped after it."""
    started: list[FakeAgent] = []
    yield started
    for agent in started:
        agent.stop()
