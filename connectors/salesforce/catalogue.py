"""What the Salesforce connector reads by default: objects, child rows, parent fields, types."""

from __future__ import annotations

DEFAULT_ENTITIES = (
    "Account",
    "Contact",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "PricebookEntry",
)
LINE_ITEM_FIELDS = (
    "Id",
    "PricebookEntryId",
    "Product2Id",
    "ProductCode",
    "Quantity",
    "UnitPrice",
    "TotalPrice",
    "Description",
)
CONTACT_FIELDS = ("Id", "FirstName", "LastName", "Email", "Phone", "ExternalID__c")
# Child rows read with their parent: an Opportunity's lines, an Account's Contacts, a
# product's entry in the standard price book (its list price); an optional third item
# filters the rows (a SOQL condition).
DEFAULT_CHILDREN = {
    "Opportunity": ("OpportunityLineItems", LINE_ITEM_FIELDS),
    "Account": ("Contacts", CONTACT_FIELDS),
    "Product2": (
        "PricebookEntries",
        ("Id", "UnitPrice", "IsActive", "Pricebook2Id"),
        "Pricebook2.IsStandard = true",
    ),
}
# Parent fields read with a record (SOQL relationship fields), e.g. the customer code
# of an Opportunity's Account, which an invoice needs, or which product a price is for.
DEFAULT_RELATED_FIELDS = {
    "Opportunity": ("Account.ExternalID__c", "Account.Name"),
    "PricebookEntry": ("Product2.ExternalID__c", "Product2.Family", "Pricebook2.IsStandard"),
}
FIELD_TYPES = {
    "double": "number",
    "currency": "number",
    "percent": "number",
    "int": "integer",
    "long": "integer",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "address": "object",
    "location": "object",
}
