"""Stored error codes in the one style the connectors now give (connectors/errors.py).

Ledger rows (and portal orders) keep the code they failed with, and staff retry
"every record failing with code X" by it, so the codes already stored are renamed
with the connectors' tables: Xero's lose their ``xero_`` prefix, Salesforce's
errorCodes are in snake case (``DUPLICATE_EXTERNAL_ID`` -> ``duplicate_external_id``),
SYSPRO's ``read_only`` and ``record_too_large`` become the codes the other systems
use for the same thing (``read_only_entity``; ``too_large``, a data fault), and
KashFlow's ``customer_not_found`` — the invoice's customer code KashFlow lacks —
becomes ``customer_code_not_found``, apart from SYSPRO's ``customer_not_found``.
The lists are frozen here: a migration must not follow later edits of the tables.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models.functions import Lower

XERO_CODES = (
    "not_connected",
    "no_tenant",
    "sign_in_rejected",
    "state_mismatch",
    "token_expired",
    "tenant_not_connected",
    "missing_scope",
    "insecure_url",
    "invalid_account_code",
    "invalid_tax_type",
    "invalid_item_code",
    "duplicate_invoice_number",
    "duplicate_contact_name",
    "duplicate_code",
    "contact_missing",
    "contact_not_found",
    "invoice_not_found",
    "invoice_not_authorised",
    "overpayment",
    "journal_unbalanced",
    "invalid_email",
    "batch_rejected",
    "validation",
    "invalid_data",
    "query_invalid",
    "no_data",
    "not_found",
    "too_large",
    "not_implemented",
    "identity_unavailable",
)
# old -> (new, the new kind or None to keep it)
RENAMED = {
    **{f"xero_{code}": (code, None) for code in XERO_CODES},
    "read_only": ("read_only_entity", None),
    "record_too_large": ("too_large", "data"),
}
VENDOR_UPPER = r"^[A-Z][A-Z0-9_]*$"


def forwards(apps, schema_editor):
    SyncRecord = apps.get_model("clarity", "SyncRecord")
    PortalOrder = apps.get_model("portal", "PortalOrder")
    for old, (new, kind) in RENAMED.items():
        SyncRecord.objects.filter(error_code=old).update(
            error_code=new, **({"error_kind": kind} if kind else {})
        )
        PortalOrder.objects.filter(error_code=old).update(error_code=new)
    # Only Salesforce sends codes in capitals (its errorCode, passed on as it came).
    SyncRecord.objects.filter(error_code__regex=VENDOR_UPPER).update(error_code=Lower("error_code"))
    SyncRecord.objects.filter(
        error_code="customer_not_found", flow__target_connection__system="kashflow"
    ).update(error_code="customer_code_not_found")


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0012_syncrun_not_before"),
        ("portal", "0002_consultant_permissions"),
    ]

    # Going back keeps the new names: no code compares a stored code with a fixed list,
    # so older code reads them as it would any code; and the old names were ambiguous
    # (a plain ``not_found`` cannot say whether it was Xero's), so no exact way back exists.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
