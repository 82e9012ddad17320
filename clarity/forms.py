"""Forms of the sync core's admin pages that are not model forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from clarity.services.bundles import TEMPLATE_DIR, bundle_parse
from connectors.models import Connection


def shipped_templates() -> list[tuple[str, str]]:
    return [(p.name, p.stem.replace("_", " ")) for p in sorted(TEMPLATE_DIR.glob("*.json"))]


class BundleImportForm(forms.Form):
    template = forms.ChoiceField(
        required=False, help_text="A ready template shipped with Clarity Connect…"
    )
    file = forms.FileField(required=False, help_text="…or a bundle exported from an installation.")
    pair_name = forms.CharField(max_length=100, help_text="An existing pair is updated.")
    connection_a = forms.ModelChoiceField(Connection.objects.all(), label="First connection")
    connection_b = forms.ModelChoiceField(Connection.objects.all(), label="Second connection")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "—"), *shipped_templates()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload, template = data.get("file"), data.get("template")
        if bool(upload) == bool(template):
            raise ValidationError(
                "Choose a shipped template or upload a bundle file (one of them)."
            )
        text = upload.read() if upload else (TEMPLATE_DIR / template).read_bytes()
        data["bundle"] = bundle_parse(text)
        return data

    def connections(self) -> dict[str, Connection]:
        return {"a": self.cleaned_data["connection_a"], "b": self.cleaned_data["connection_b"]}
