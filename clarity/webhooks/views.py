"""The webhook endpoint: read a bounded body, hand it to the service, answer with its verdict.

One view serves ``/webhooks/<system>`` for every system whose connector reads webhooks.
Senders cannot hold a CSRF token, hence ``csrf_exempt``; the system's parser authenticates
the sender itself (a signature or a shared secret).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from clarity.webhooks.doorbell import doorbell_ring
from clarity.webhooks.services import MAX_BODY_BYTES, webhook_receive
from connectors.registry import webhook_parser
from connectors.webhooks import WebhookRejected


@csrf_exempt
def receive(request: HttpRequest, system: str) -> HttpResponse:
    """404 for a system that sends no webhooks; 405 but for POST; 413 before reading a body
    over the limit; the service's 4xx verdict; else an empty 200 (as Xero requires)."""
    if webhook_parser(system) is None:
        raise Http404(f"Clarity receives no webhooks from '{system}'.")
    return _answer(
        request, lambda: webhook_receive(system=system, body=request.body, headers=request.headers)
    )


@csrf_exempt
def doorbell(request: HttpRequest, connection_id: int) -> HttpResponse:
    """A signed "these records changed" from a system that sends no webhooks (SYSPRO): the
    same limits and answers as a webhook, 202 once its changes are stored."""
    response = _answer(
        request,
        lambda: doorbell_ring(
            connection_id=connection_id, body=request.body, headers=request.headers
        ),
    )
    if response.status_code == 200:
        response.status_code = 202  # accepted: the runs start later
    return response


def _answer(request: HttpRequest, store: Callable[[], object]) -> HttpResponse:
    """405 but for POST; 413 before reading a body over the limit; the service's 4xx
    verdict; else an empty 200."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("The Content-Length header is not a number.", status=400)
    if length > MAX_BODY_BYTES:
        return HttpResponse(f"Bodies over {MAX_BODY_BYTES} bytes are refused.", status=413)
    try:
        store()
    except WebhookRejected as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return HttpResponse(status=200)
