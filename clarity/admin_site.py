"""Clarity Connect's admin site: its name, the two-factor page, and error pages in its look."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import Resolver404, path, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from clarity import accounts

# Which permission an admin page needs, by the last part of its URL name.
PAGE_ACTIONS = {"changelist": "view", "change": "view", "history": "view", "add": "add"}


class ClarityAdminSite(admin.AdminSite):
    site_header = "Clarity Connect"
    site_title = "Clarity Connect"
    index_title = "Integration back office"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not accounts.two_factor_pending(request)

    def check(self, app_configs: Any) -> list[Any]:
        admin.autodiscover()  # checked before any URL was asked for (manage.py check)
        return super().check(app_configs)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "two_factor": settings.CLARITY_REQUIRE_2FA}
        return super().login(request, extra_context)

    def get_urls(self) -> list[Any]:
        admin.autodiscover()  # the apps' admin modules, first needed here (clarity/apps.py)
        two_factor = never_cache(self.two_factor_view)
        return [path("two-factor/", two_factor, name="two_factor"), *super().get_urls()]

    def two_factor_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for the authenticator code; on a first sign-in, set the app up first."""
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), self._login_url())
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = ""
        if not accounts.two_factor_pending(request):
            return HttpResponseRedirect(next_url or self._index_url())
        error = None
        if request.method == "POST":
            error = accounts.totp_verify(request=request, token=request.POST.get("token", ""))
            if error is None:
                return HttpResponseRedirect(next_url or self._index_url())
        device = accounts.totp_device_confirmed(user=request.user)  # type: ignore[arg-type]
        context = {
            **self.each_context(request),
            "title": "Confirm it is you" if device else "Set up your authenticator app",
            "enrolling": device is None,
            "error": error,
            "next": next_url,
        }
        if device is None:
            enrolment = accounts.totp_enrolment_device(user=request.user)  # type: ignore[arg-type]
            context.update(accounts.totp_setup_details(enrolment))
        return TemplateResponse(request, "admin/two_factor.html", context)

    def _login_url(self) -> str:
        return reverse(f"{self.name}:login")

    def _index_url(self) -> str:
        return reverse(f"{self.name}:index")


def _roles_for_page(request: HttpRequest) -> list[str]:
    """The roles that may open the refused admin page, read from its URL name."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return []
    if match.namespace != admin.site.name or not match.url_name:
        return []
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"{meta.app_label}_{meta.model_name}_"
        if match.url_name.startswith(prefix):
            action = PAGE_ACTIONS.get(match.url_name.removeprefix(prefix), "change")
            return accounts.roles_with_permission(
                app_label=meta.app_label, codename=f"{action}_{meta.model_name}"
            )
    return []


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A 403 in the admin's look, saying which role opens the page and whom to ask."""
    context = {
        **admin.site.each_context(request),
        "title": "Not open to your role",
        "reason": str(exception) if exception and str(exception) else "",
        "roles": _roles_for_page(request),
    }
    return TemplateResponse(request, "403.html", context, status=403).render()


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": "Page not found"}
    return TemplateResponse(request, "404.html", context, status=404).render()
