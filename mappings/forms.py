"""Admin forms: every save of a mapping's rows and rules compiles them first.

A compile problem is put on the form and field it is about (``transforms`` of
the third row, ``condition`` of rule 2), so a consultant sees what to fix and
nothing is saved until the whole mapping compiles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields as dataclass_fields
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mappings import catalogue, selectors, services
from mappings.compiling import Parts
from mappings.engine import Problem
from mappings.jsonfields import BoundedJSONField
from mappings.models import ConditionalRule, FieldMappingRow, RowKind

PART_NAMES = tuple(f.name for f in dataclass_fields(Parts) if not f.name.startswith("_"))


class PathListField(forms.CharField):
    """A list of field paths typed as ``FirstName, LastName`` and stored as a JSON list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class FieldMappingRowForm(forms.ModelForm):
    # The lists are the change page's catalogue datalists (when a connection describes the entity).
    sources = PathListField(
        required=False,
        help_text="Comma-separated, e.g. FirstName, LastName",
        widget=forms.TextInput(attrs={"list": "mapping-source-fields"}),
    )
    targets = PathListField(
        help_text="Comma-separated, e.g. Address1, Address2, Postcode",
        widget=forms.TextInput(attrs={"list": "mapping-target-fields"}),
    )
    separator = forms.CharField(required=False, strip=False, max_length=20)  # " " is the norm

    class Meta:
        model = FieldMappingRow
        fields = (
            "order",
            "kind",
            "sources",
            "targets",
            "transforms",
            "template",
            "combine",
            "separator",
        )
        widgets = {"transforms": forms.Textarea(attrs={"rows": 2, "cols": 40})}
        field_classes = {"transforms": BoundedJSONField}  # deep nesting: a form error, not a 500

    def clean_transforms(self) -> list[dict[str, Any]]:
        """The engine names a bad transform or arg; the stored shape is checked here."""
        steps = self.cleaned_data["transforms"] or []
        if not isinstance(steps, list):
            steps = [steps]
        for n, step in enumerate(steps, 1):
            if isinstance(step, str):
                step = {"name": step}
            if not isinstance(step, dict) or not isinstance(step.get("name"), str):
                raise ValidationError(
                    f'Step {n} must look like {{"name": "trim"}} or '
                    f'{{"name": "decimal", "args": {{"places": 2}}}}; got {json.dumps(step)}.'
                )
            if not isinstance(step.get("args", {}), dict):
                raise ValidationError(f'Step {n}: "args" must be an object, e.g. {{"places": 2}}.')
            steps[n - 1] = {"name": step["name"], "args": step.get("args") or {}}
        return steps

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sources, targets = data.get("sources") or [], data.get("targets") or []
        kind = data.get("kind")
        expected = {
            RowKind.DIRECT: (len(sources) == 1 and len(targets) == 1, "one source and one target"),
            RowKind.ONE_TO_MANY: (len(sources) == 1 and len(targets) > 1, "one source, targets"),
            RowKind.MANY_TO_ONE: (len(sources) > 1 and len(targets) == 1, "sources, one target"),
            RowKind.CONSTANT: (not sources, "no source (a constant transform gives the value)"),
        }
        if kind in expected and not expected[kind][0]:
            self.add_error("kind", f"A {RowKind(kind).label} row has {expected[kind][1]}.")
        return data


class AggregationForm(forms.ModelForm):
    key = PathListField(help_text="Line fields to group by, comma-separated")
    sum = PathListField(required=False, help_text="Line fields to add up, comma-separated")


class LookupTableForm(forms.ModelForm):
    def clean_name(self) -> str:
        """Rows name tables in their transforms, so a table in use keeps its name."""
        name = self.cleaned_data["name"]
        table = self.instance
        if table.pk and name != table.name:
            users = ", ".join(m.name for m in table.mappings.all())
            if users:
                raise ValidationError(
                    f"Mappings {users} use this table by name; rename it there first."
                )
        return name


def _place(parts: Parts, problems: Sequence[Problem], form_of: dict[int, forms.Form]) -> list[str]:
    """Put each problem on its form and field; return the ones that belong to no row."""
    unplaced = []
    for problem in problems:
        found = parts.owner(problem)
        form = form_of.get(id(found[0])) if found else None
        if form is None:
            unplaced.append(problem.message)
            continue
        field = found[1] if found[1] in form.fields else None  # type: ignore[index]
        form.add_error(field, problem.message)
    return unplaced


def _place_paths(mapping: Any, parts: Parts, form_of: dict[int, forms.Form]) -> int:
    """Mark field paths the connected systems do not know; how many were marked.

    Only when a catalogue is available (a connection of that system describes
    the entity): without one nothing is checked.
    """
    placed = 0
    for problem in catalogue.mapping_check_paths(mapping=mapping, parts=parts):
        form = form_of.get(id(problem.part))
        if form is not None:
            form.add_error(problem.field if problem.field in form.fields else None, problem.message)
            placed += 1
    return placed


class MappingCheck:
    """Shared by the inline formsets of one mapping form; compiles once all are clean.

    Django validates inline formsets one by one with no hook across them, so
    each reports in here and the last one runs the compile for the whole set.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.formsets: list[MappingPartFormSet] = []

    def cleaned(self, formset: MappingPartFormSet) -> None:
        self.formsets.append(formset)
        if len(self.formsets) < self.expected:
            return
        if any(form.errors for fs in self.formsets for form in fs.forms):
            return  # field errors first; compiling half-read rows would only add noise
        kept = {fs.part_name: [form for form in fs.forms if fs.keeps(form)] for fs in self.formsets}
        parts = Parts(**{name: [f.instance for f in forms_] for name, forms_ in kept.items()})
        problems = services.mapping_validate(parts=parts)
        form_of = {id(f.instance): f for forms_ in kept.values() for f in forms_}
        unplaced = _place(parts, problems, form_of)
        unknown = _place_paths(self.formsets[0].instance, parts, form_of)
        if problems:
            raise ValidationError(
                [
                    "This mapping does not compile; nothing was saved. Fix the rows marked below.",
                    *unplaced,
                ]
            )
        if unknown:
            raise ValidationError(
                "Some rows or rules name fields their entity does not have; nothing was "
                "saved. Fix the ones marked below."
            )


class MappingPartFormSet(forms.BaseInlineFormSet):
    """An inline of a mapping's rows or rules; ``part_name`` is its ``Parts`` attribute."""

    part_name = ""
    check: MappingCheck | None = None

    def keeps(self, form: forms.Form) -> bool:
        """Forms that will exist after the save: not deleted, not blank extras."""
        if self.can_delete and self._should_delete_form(form):
            return False
        return bool(form.instance.pk or form.has_changed())

    def clean(self) -> None:
        super().clean()
        if self.check is not None:
            self.check.cleaned(self)


class StandalonePartMixin:
    """A row or rule edited (or reverted from history) outside its mapping's page.

    Checked after ``_post_clean`` has copied the form onto the instance, with the
    mapping's other rows and rules as they are saved.
    """

    part_name = ""

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        form: forms.ModelForm = self  # type: ignore[assignment]
        if form.errors or not form.instance.mapping_id:
            return
        parts = selectors.mapping_parts(mapping=form.instance.mapping)
        siblings = [p for p in getattr(parts, self.part_name) if p.pk != form.instance.pk]
        setattr(parts, self.part_name, [*siblings, form.instance])
        problems = services.mapping_validate(parts=parts)
        for message in _place(parts, problems, {id(form.instance): form}):
            form.add_error(None, message)
        only = Parts(**{self.part_name: [form.instance]})
        _place_paths(form.instance.mapping, only, {id(form.instance): form})


class StandaloneFieldMappingRowForm(StandalonePartMixin, FieldMappingRowForm):
    part_name = "rows"

    class Meta(FieldMappingRowForm.Meta):
        fields = ("mapping", *FieldMappingRowForm.Meta.fields)


class StandaloneRuleForm(StandalonePartMixin, forms.ModelForm):
    part_name = "rules"

    class Meta:
        model = ConditionalRule
        fields = ("mapping", "order", "condition", "effect", "target", "value", "message")
