"""What the Xero connector can read and write: entities, keys, batch sizes, fields."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import FieldSpec
from connectors.errors import ConnectorError, ErrorKind


@dataclass(frozen=True)
class EntityInfo:
    id_field: str
    reference_field: str
    singular: str
    paged: bool = True
    batch_size: int = 50  # Xero recommends about 50 per request
    fields: tuple[FieldSpec, ...] = ()


def _fields(specs: str) -> tuple[FieldSpec, ...]:
    """``"Name:string! Code:string"`` -> FieldSpecs; ``!`` marks a required field."""
    result = []
    for spec in specs.split():
        name, _, kind = spec.partition(":")
        result.append(FieldSpec(name, kind.rstrip("!"), required=kind.endswith("!")))
    return tuple(result)


ENTITIES: dict[str, EntityInfo] = {
    "Contacts": EntityInfo(
        "ContactID",
        "ContactNumber",
        "contact",
        fields=_fields(
            "ContactID:string Name:string! ContactNumber:string AccountNumber:string "
            "FirstName:string LastName:string EmailAddress:string TaxNumber:string "
            "IsCustomer:boolean IsSupplier:boolean DefaultCurrency:string "
            "ContactStatus:string Addresses:array Phones:array UpdatedDateUTC:datetime"
        ),
    ),
    "Invoices": EntityInfo(
        "InvoiceID",
        "InvoiceNumber",
        "invoice",
        fields=_fields(
            "InvoiceID:string Type:string! Contact:object! Date:date DueDate:date "
            "Status:string LineAmountTypes:string InvoiceNumber:string Reference:string "
            "CurrencyCode:string LineItems:array! SubTotal:number TotalTax:number "
            "Total:number AmountDue:number AmountPaid:number UpdatedDateUTC:datetime"
        ),
    ),
    "Payments": EntityInfo(
        "PaymentID",
        "Reference",
        "payment",
        fields=_fields(
            "PaymentID:string Invoice:object! Account:object! Date:date! Amount:number! "
            "Reference:string CurrencyRate:number Status:string PaymentType:string "
            "IsReconciled:boolean UpdatedDateUTC:datetime"
        ),
    ),
    "ManualJournals": EntityInfo(
        "ManualJournalID",
        "Narration",
        "manual journal",
        fields=_fields(
            "ManualJournalID:string Narration:string! JournalLines:array! Date:date "
            "Status:string LineAmountTypes:string UpdatedDateUTC:datetime"
        ),
    ),
    "Items": EntityInfo(
        "ItemID",
        "Code",
        "item",
        paged=False,
        batch_size=500,
        fields=_fields(
            "ItemID:string Code:string! Name:string Description:string "
            "PurchaseDescription:string IsSold:boolean IsPurchased:boolean "
            "SalesDetails:object PurchaseDetails:object InventoryAssetAccountCode:string "
            "IsTrackedAsInventory:boolean UpdatedDateUTC:datetime"
        ),
    ),
    "Accounts": EntityInfo(
        "AccountID",
        "Code",
        "account",
        paged=False,
        batch_size=1,  # PUT /Accounts takes one account per request
        fields=_fields(
            "AccountID:string Code:string! Name:string! Type:string! Status:string "
            "TaxType:string Description:string BankAccountNumber:string Class:string "
            "UpdatedDateUTC:datetime"
        ),
    ),
    "TaxRates": EntityInfo(
        "TaxType",
        "TaxType",
        "tax rate",
        paged=False,
        batch_size=0,  # read-only here
        fields=_fields(
            "TaxType:string Name:string Status:string EffectiveRate:number "
            "DisplayTaxRate:number ReportTaxType:string"
        ),
    ),
}


def entity_info(entity: str) -> EntityInfo:
    try:
        return ENTITIES[entity]
    except KeyError:
        raise ConnectorError(
            ErrorKind.CONFIG,
            "unknown_entity",
            f"Xero has no entity {entity!r}; known: {sorted(ENTITIES)}",
        ) from None
