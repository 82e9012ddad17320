"""The connection form: secrets go in, nothing secret comes back out."""

from __future__ import annotations

import json
import math
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput

from connectors.models import Connection
from connectors.redaction import register_secret
from connectors.validators import unprintable_character


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, so a stored secret can't leak into HTML."""

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        return super().get_context(name, None, attrs)


class _StorableJSONDecoder(json.JSONDecoder):
    """Refuses NaN, Infinity and numbers too large for a float: PostgreSQL jsonb has none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parse_constant=_refuse_constant, parse_float=_finite_float, **kwargs)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number that can be stored")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError("a number is too large to store")
    return number


SETTINGS_UNREADABLE = (
    "These settings cannot be read: they nest too deeply, or hold NaN, Infinity or a number "
    "too large or too long to store. Check what was pasted."
)


class SettingsField(forms.JSONField):
    """JSON shown back as typed, or as ``\\u`` escapes where it holds a lone surrogate
    (which no page can carry: the form shows its error instead of failing to render).

    Django's JSONField catches only JSONDecodeError: deep nesting (RecursionError) and a
    5,000-digit number (ValueError) were a 500. Connectors may not import
    ``mappings.engine.jsonload`` (layering), so this field does the same checks with the
    standard library: both become a form error, and NaN/Infinity/1e400 are refused.
    """

    def __init__(self, **kwargs: Any) -> None:
        # The model field passes decoder=None: take ours unless given another.
        kwargs["decoder"] = kwargs.get("decoder") or _StorableJSONDecoder
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except (RecursionError, ValueError):
            raise forms.ValidationError(SETTINGS_UNREADABLE, code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> Any:
        text = super().prepare_value(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, cls=self.encoder)
        return text


def parse_credentials(text: str) -> dict[str, str]:
    """Read ``name=value`` lines; the value may contain '=' and keeps inner spaces."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise forms.ValidationError(
                f"Line {number} is not of the form name=value (the value is not shown here)."
            )
        if unprintable_character(line):
            raise forms.ValidationError(
                f"Line {number} contains an invisible control character; type it again "
                "without it (the value is not shown here)."
            )
        result[name.strip()] = value.strip()
    return result


class ConnectionForm(forms.ModelForm[Connection]):
    """Only collects input: ``ConnectionAdmin.save_model`` saves it through ``connection_save``."""

    new_credentials = forms.CharField(
        label="Set credentials",
        required=False,
        strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "One name=value per line, e.g. client_secret=…; merged into what is stored. "
            "Stored values are encrypted and never shown again; leave blank to keep them. "
            "They are sent only to the address they were entered for: changing the "
            "environment or base URL clears them."
        ),
    )
    forget_secrets = forms.BooleanField(
        label="Forget stored credentials and tokens",
        required=False,
        help_text="Removes every stored secret and OAuth token of this connection.",
    )

    class Meta:
        model = Connection
        fields = ("name", "system", "environment", "base_url", "settings")
        field_classes = {"settings": SettingsField}

    def clean_settings(self) -> dict[str, Any]:
        """Left empty means none; anything but a JSON object (``null``, a list) is an error."""
        value = self.cleaned_data.get("settings")
        return {} if value in (None, "") else value

    def clean_new_credentials(self) -> dict[str, str]:
        credentials = parse_credentials(self.cleaned_data.get("new_credentials") or "")
        register_secret(credentials)  # masked in logs and error pages from now on
        return credentials
