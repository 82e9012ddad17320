"""Changes to connections that are more than a form save."""

from __future__ import annotations

from django.apps import apps
from django.db import transaction

from connectors.secrets import EncryptedTextField, keyring, parse_stored


def _encrypted_fields(model: type) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def secrets_rotate(*, batch_size: int = 500) -> int:
    """Re-seal every stored secret under the newest key; returns how many rows changed.

    Each batch is its own transaction with its rows locked, so a worker that
    refreshes a token meanwhile neither loses its write nor sees a half-rotated row.
    A secret no configured key opens stops the rotation with SecretUnreadable.
    """
    current = keyring().current_id
    changed = 0
    for model in apps.get_models():
        fields = _encrypted_fields(model)
        if not fields:
            continue
        names = [f.attname for f in fields]
        stale = [
            pk
            for pk, *values in model._base_manager.values_list("pk", *names).iterator()
            if any(value and parse_stored(value)[0] != current for value in values)
        ]
        for start in range(0, len(stale), batch_size):
            with transaction.atomic():
                rows = model._base_manager.select_for_update().filter(
                    pk__in=stale[start : start + batch_size]
                )
                for row in rows:
                    for name in names:
                        getattr(row, name)  # open with the old key before re-sealing
                    row.save(update_fields=names)
                    changed += 1
    return changed
