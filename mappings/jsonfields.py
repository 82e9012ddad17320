"""A form field for JSON typed into the admin, with its nesting bounded (``loads_bounded``).

Django's ``forms.JSONField`` only catches JSONDecodeError, so deeply nested input
raises RecursionError from ``clean`` or while re-rendering the form: a 500
instead of a form error. This field gives a form error and re-shows the text.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput, JSONString

from mappings.engine.jsonload import JSONInputError, loads_bounded


class BoundedJSONField(forms.JSONField):
    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or not isinstance(value, str | bytes):
            return super().to_python(value)
        try:
            converted = loads_bounded(value)
        except JSONInputError as exc:
            raise ValidationError(exc.message, code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or not isinstance(data, str | bytes):
            return super().bound_data(data, initial)
        try:
            return loads_bounded(data)
        except JSONInputError:
            return InvalidJSONInput(data)
