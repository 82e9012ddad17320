"""The webhook endpoints: read a bounded body, hand it to a service, answer with its verdict.

Senders cannot hold a CSRF token, hence ``csrf_exempt``; each endpoint
authenticates the sender itself (a signature or a shared secret).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clarity.webhooks.services import (
    MAX_BODY_BYTES,
    SALESFORCE_SECRET_HEADER,
    WebhookRejected,
    salesforce_change_event_receive,
    xero_webhook_receive,
)


def _answer(request: HttpRequest, receive: Callable[[bytes], int]) -> HttpResponse:
    """413 before reading a body over the limit; the service's 4xx verdict; else an empty 200."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("The Content-Length header is not a number.", status=400)
    if length > MAX_BODY_BYTES:
        return HttpResponse(f"Bodies over {MAX_BODY_BYTES} bytes are refused.", status=413)
    try:
        receive(request.body)
    except WebhookRejected as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def xero(request: HttpRequest) -> HttpResponse:
    signature = request.headers.get("x-xero-signature")
    return _answer(request, lambda body: xero_webhook_receive(body=body, signature=signature))


@csrf_exempt
@require_POST
def salesforce(request: HttpRequest) -> HttpResponse:
    secret = request.headers.get(SALESFORCE_SECRET_HEADER)
    return _answer(request, lambda body: salesforce_change_event_receive(body=body, secret=secret))
