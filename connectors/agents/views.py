"""``/agent/v1/poll`` and ``/agent/v1/answer``: thin JSON faces over ``services``.

Agents authenticate with their own bearer token, not a session, so these views are
exempt from CSRF; every call is checked against the token's digest at once, so a
revoked token is refused on its very next call.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.agents.models import Agent
from connectors.agents.services import (
    MAX_BODY_BYTES,
    BadMessage,
    TooLarge,
    agent_answer,
    agent_authenticate,
    agent_poll,
)

MAX_POLL_BYTES = 64 * 1024
MAX_ANSWER_BYTES = (MAX_BODY_BYTES + 2) // 3 * 4 + 64 * 1024  # base64 of 10 MB and the rest

Handler = Callable[[Agent, object], HttpResponse]


def _agent_view(limit: int, handle: Handler) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        agent = agent_authenticate(authorization=request.headers.get("Authorization", ""))
        if agent is None:
            return JsonResponse(
                {"error": "agent token refused: unknown or revoked"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="clarity-agent"'},
            )
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = limit + 1
        if declared > limit:
            return JsonResponse({"error": f"body over {limit} bytes"}, status=413)
        raw = request.read(limit + 1)
        if len(raw) > limit:
            return JsonResponse({"error": f"body over {limit} bytes"}, status=413)
        try:
            return handle(agent, json.loads(raw or b"{}"))
        except TooLarge as exc:
            return JsonResponse({"error": str(exc)}, status=413)
        except (BadMessage, ValueError) as exc:
            return JsonResponse({"error": f"malformed: {exc}"}, status=400)

    return view


def _poll(agent: Agent, message: object) -> HttpResponse:
    requests = agent_poll(agent=agent, message=message)
    if not requests:
        return HttpResponse(status=204)
    return JsonResponse({"requests": requests})


def _answer(agent: Agent, message: object) -> HttpResponse:
    if agent_answer(agent=agent, message=message):
        return HttpResponse(status=204)
    return JsonResponse(
        {"error": "no call with this id is waiting for an answer from this agent"}, status=409
    )


poll = _agent_view(MAX_POLL_BYTES, _poll)
answer = _agent_view(MAX_ANSWER_BYTES, _answer)
