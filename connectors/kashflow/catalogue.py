"""What the KashFlow connector reads and writes: entities, keys, fields."""

from __future__ import annotations

from connectors.base import EntitySchema, FieldSpec


def _f(name: str, type_: str, required: bool = False, description: str = "") -> FieldSpec:
    return FieldSpec(name, type_, required, description)


SCHEMAS: dict[str, EntitySchema] = {
    "customers": EntitySchema(
        "customers",
        (
            _f("Code", "string", description="Account reference, unique, e.g. SHA01"),
            _f("Name", "string", True),
            _f("DisplayName", "string"),
            _f("Note", "string"),
            _f("VatNumber", "string"),
            _f("DiscountRate", "number", description="Percent, 0 to 100"),
            _f("ShowDiscount", "boolean"),
            _f("IsRegisteredInEC", "boolean"),
            _f("IsRegisteredOutsideEC", "boolean"),
            _f("AutoIncludeVATNumber", "boolean"),
            _f("UseCustomDeliveryAddress", "boolean"),
            _f("ReceivesWholesalePricing", "boolean"),
            _f("Contacts", "array", description="FirstName, LastName, Email, Telephone [A]"),
            _f("Addresses", "array", description="Line1-4, PostCode, CountryName [A]"),
            _f("ContactName", "string", description="First contact's first and last name"),
            _f("ContactEmail", "string", description="First contact's e-mail"),
            _f("ContactTelephone", "string", description="First contact's telephone"),
            _f("ContactReference", "string", description="First contact's id elsewhere"),
            _f("Address1", "string", description="First address, line 1"),
            _f("Address2", "string", description="First address, line 2"),
            _f("Address3", "string", description="First address, line 3 (town)"),
            _f("Address4", "string", description="First address, line 4 (county)"),
            _f("Postcode", "string", description="First address's postcode"),
            _f("CountryName", "string", description="First address's country"),
            _f("PaymentTerms", "object", description="[A]"),
            _f("Currency", "object", description="Code, Name, ExchangeRate [A]"),
            _f("CreatedDate", "datetime", description="Read only"),
            _f("LastUpdatedDate", "datetime", description="Read only"),
            _f("TotalPaidAmount", "number", description="Read only"),
            _f("InvoicedNetAmount", "number", description="Read only"),
            _f("InvoicedVATAmount", "number", description="Read only"),
        ),
        key_field="Code",
        reference_field="Code",
    ),
    "invoices": EntitySchema(
        "invoices",
        (
            _f("Number", "integer", description="Kept when unique, else leave blank"),
            _f("CustomerCode", "string", True, "An existing customer's Code"),
            _f("CustomerReference", "string", description="Your reference, used to match"),
            _f("IssuedDate", "date"),
            _f("DueDate", "date"),
            _f("VATNumber", "string"),
            _f("Currency", "object", description="Code, Name, ExchangeRate"),
            _f(
                "LineItems",
                "array",
                True,
                "Quantity, Description, Rate, VATRate, NominalCode, ProductCode [A]",
            ),
            _f("NetAmount", "number", description="Read only, from the lines"),
            _f("VATAmount", "number", description="Read only, from the lines"),
            _f("GrossAmount", "number", description="Read only, from the lines"),
            _f("TotalPaidAmount", "number", description="Read only"),
            _f("LastPaymentDate", "datetime", description="Read only"),
            _f("PaymentLines", "array", description="Read only"),
            _f("Permalink", "string", description="Read only"),
        ),
        key_field="Number",
        reference_field="CustomerReference",
    ),
    "payments": EntitySchema(
        "payments",
        (
            _f("InvoiceNumber", "integer", True, "The invoice paid"),
            _f("Amount", "number", True),
            _f("Date", "date", True),
            _f("AccountId", "integer", description="Bank account; the connection's by default"),
            _f("Method", "integer", description="1 cash, 2 cheque, 3 BACS, 4 card [A]"),
            _f("Comment", "string"),
            _f("Reconciled", "boolean"),
            _f("Id", "integer", description="Read only"),
        ),
        key_field="Id",
        reference_field=None,
    ),
    "products": EntitySchema(
        "products",
        (
            _f("Code", "string", True),
            _f("Name", "string"),
            _f("Description", "string"),
            _f("Price", "number"),
            _f("VATRate", "number", description="Percent, e.g. 20"),
            _f("NominalCode", "integer", description="A sales nominal code; needed to create"),
        ),
        key_field="Code",
        reference_field="Code",
    ),
    "nominalcodes": EntitySchema(
        "nominalcodes",
        (_f("Code", "integer", True), _f("Name", "string"), _f("Type", "string")),
        key_field="Code",
    ),
}
WRITABLE = ("customers", "invoices", "payments", "products")
