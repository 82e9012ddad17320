"""Keeps secrets out of Django's error pages and error e-mails.

Django hides settings whose names look secret, but POSTed fields and local
variables only when a view is decorated; admin views are not. This filter
applies the same name test to both, and to the keys of every dict in a frame
(``{"OperatorPassword": …}``), so a credential typed into the admin can never
appear in a traceback. A secret held under an innocent name (``value``,
``stored``, a header string) is caught by value: the reporter masks every
secret this process has opened or sealed (``connectors.redaction``) in the
finished page and text, exception messages included.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from connectors.redaction import cleanse, is_secret_name, redact


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_secret_name(self, name: str) -> bool:
        return (
            bool(self.hidden_settings.search(name))
            or "credential" in name.lower()
            or is_secret_name(name)
        )

    def get_post_parameters(self, request: Any) -> Any:
        params = super().get_post_parameters(request)
        if request is None or not hasattr(params, "copy"):
            return params
        cleansed = params.copy()
        for name in list(cleansed):
            if self.is_secret_name(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute if self.is_secret_name(name) else cleanse(value))
            for name, value in variables
        ]


class SecretSafeExceptionReporter(ExceptionReporter):
    """Django's reporter, with every known secret and credential-looking value masked."""

    def get_traceback_html(self) -> str:
        return redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact(super().get_traceback_text())
