"""Creating and updating invoices: lines, per-line tax, numbering and status changes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from .. import rules
from ..errors import ValidationFailure
from ..money import ZERO, line_amount, line_tax, round_unit_amount, to_decimal
from ..state import Contact, HistoryRecord, Invoice, LineItem, Organisation, new_id
from ..xerojson import parse_date
from .batch import Batch, Plan

SUPPORTED_TYPES = frozenset({"ACCREC", "ACCPAY"})
LINE_AMOUNT_TYPES = frozenset({"Exclusive", "Inclusive", "NoTax"})
#: Keys that change an invoice besides its status; their presence makes an update an edit.
_EDIT_KEYS = frozenset(
    {
        "Contact",
        "LineItems",
        "Date",
        "DueDate",
        "ExpectedPaymentDate",
        "LineAmountTypes",
        "Reference",
        "BrandingThemeID",
        "Url",
        "CurrencyCode",
        "InvoiceNumber",
    }
)

#: Invoice attributes an update sets from the header fields it sent.
_HEADER_ATTRS = (
    "date",
    "due_date",
    "expected_payment_date",
    "reference",
    "branding_theme_id",
    "url",
    "currency_code",
)


def find_invoice(org: Organisation, data: dict[str, Any]) -> Invoice | None:
    """The invoice an update names, by InvoiceID or (as Xero allows) InvoiceNumber."""
    invoice_id = data.get("InvoiceID")
    if invoice_id:
        return org.invoices.get(str(invoice_id).lower())
    number = data.get("InvoiceNumber")
    if number:
        return org.invoice_by_number(str(number))
    return None


def prepare_invoice(
    org: Organisation,
    data: dict[str, Any],
    batch: Batch,
    unitdp: int,
    invoice_id: str | None = None,
    create_only: bool = False,
) -> Plan:
    existing = org.invoices.get(invoice_id.lower()) if invoice_id else None
    if invoice_id and existing is None:
        raise ValidationFailure(rules.INVOICE_NOT_FOUND)
    if existing is None and not create_only:
        existing = find_invoice(org, data)
    elif existing is None and data.get("InvoiceID"):
        existing = find_invoice(org, data)
        if existing is None:
            raise ValidationFailure(rules.INVOICE_NOT_FOUND)
    if existing is not None:
        return _prepare_update(org, existing, data, batch, unitdp)
    return _prepare_create(org, data, batch, unitdp)


def _prepare_create(org: Organisation, data: dict[str, Any], batch: Batch, unitdp: int) -> Plan:
    messages: list[str] = []
    invoice_type = data.get("Type")
    if invoice_type not in SUPPORTED_TYPES:
        raise ValidationFailure(f"Invoice Type {invoice_type} is not supported")  # sandbox
    status = data.get("Status", "DRAFT")
    if status not in rules.CREATE_STATUSES:
        messages.append(rules.NOT_VALID_STATUS)
    contact, contact_messages = _resolve_contact(org, data.get("Contact"), batch)
    messages += contact_messages
    number = data.get("InvoiceNumber")
    if number:
        messages += _number_problems(org, invoice_type, str(number), batch, None)
    fields, field_messages = _header_fields(org, data)
    messages += field_messages
    lines, line_messages, lat = _lines(org, data, invoice_type, status, unitdp, fields)
    messages += line_messages
    if messages:
        raise ValidationFailure(*_unique(messages))
    assert contact is not None  # a missing contact was a message above

    def apply() -> Invoice:
        chosen = contact
        if chosen.contact_id not in org.contacts:
            org.contacts[chosen.contact_id] = chosen
        invoice = Invoice(
            invoice_id=new_id(),
            type=invoice_type,
            contact_id=chosen.contact_id,
            invoice_number=str(number) if number else _next_number(org, invoice_type),
            status=status,
            date=fields.get("date") or _today(batch),
            due_date=fields.get("due_date"),
            line_amount_types=lat,
            currency_code=fields.get("currency_code") or org.base_currency,
            line_items=lines or [],
            created=batch.now,
            updated=batch.now,
            reference=fields.get("reference", ""),
            branding_theme_id=fields.get("branding_theme_id") or _default_theme(org, invoice_type),
            url=fields.get("url"),
            expected_payment_date=fields.get("expected_payment_date"),
        )
        _recompute(invoice)
        org.invoices[invoice.invoice_id] = invoice
        invoice.history.append(
            HistoryRecord(
                "Created",
                f"{invoice.invoice_number} to {chosen.name} for {invoice.total}.",
                batch.user,
                batch.now,
            )
        )
        if status != "DRAFT":
            invoice.history.append(
                HistoryRecord(rules.HISTORY_FOR_STATUS[status], "", batch.user, batch.now)
            )
        return invoice

    if number:
        batch.invoice_numbers.add(str(number))
    return apply


def _prepare_update(
    org: Organisation, invoice: Invoice, data: dict[str, Any], batch: Batch, unitdp: int
) -> Plan:
    requested = data.get("Status", invoice.status)
    edits = _EDIT_KEYS & data.keys()
    if "InvoiceNumber" in edits and data["InvoiceNumber"] == invoice.invoice_number:
        edits = edits - {"InvoiceNumber"}
    if requested == invoice.status and not edits:
        return lambda: invoice  # asking for what it already is changes nothing
    if invoice.amount_paid > ZERO or invoice.status == "PAID":
        raise ValidationFailure(rules.NOT_VALID_STATUS, rules.HAS_PAYMENTS)
    if requested not in rules.TRANSITIONS[invoice.status]:
        raise ValidationFailure(rules.NOT_VALID_STATUS)
    if edits and invoice.status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
        raise ValidationFailure(rules.NOT_VALID_STATUS)

    messages: list[str] = []
    contact = None
    if "Contact" in data:
        contact, contact_messages = _resolve_contact(org, data.get("Contact"), batch)
        messages += contact_messages
    number = data.get("InvoiceNumber")
    if number and number != invoice.invoice_number:
        messages += _number_problems(org, invoice.type, str(number), batch, invoice)
    fields, field_messages = _header_fields(org, data)
    messages += field_messages
    check_status = requested if requested in ("SUBMITTED", "AUTHORISED") else "DRAFT"
    lines, line_messages, lat = _lines(
        org, data, invoice.type, check_status, unitdp, fields, invoice
    )
    messages += line_messages
    if messages:
        raise ValidationFailure(*_unique(messages))

    def apply() -> Invoice:
        if contact is not None:
            if contact.contact_id not in org.contacts:
                org.contacts[contact.contact_id] = contact
            invoice.contact_id = contact.contact_id
        if number:
            invoice.invoice_number = str(number)
        for attr in _HEADER_ATTRS:
            if attr in fields:
                setattr(invoice, attr, fields[attr])
        invoice.line_amount_types = lat
        if lines is not None:
            invoice.line_items = lines
        _recompute(invoice)
        if requested != invoice.status:
            invoice.status = requested
            invoice.history.append(
                HistoryRecord(rules.HISTORY_FOR_STATUS[requested], "", batch.user, batch.now)
            )
        elif edits:
            invoice.history.append(HistoryRecord("Edited", "", batch.user, batch.now))
        invoice.updated = batch.now
        return invoice

    return apply


def _resolve_contact(
    org: Organisation, data: Any, batch: Batch
) -> tuple[Contact | None, list[str]]:
    """The invoice's contact: by ContactID, ContactNumber or Name (a new name creates one)."""
    if not isinstance(data, dict) or not any(
        data.get(k) for k in ("ContactID", "ContactNumber", "Name")
    ):
        return None, [rules.CONTACT_REQUIRED]
    if data.get("ContactID"):
        contact = org.contacts.get(str(data["ContactID"]).lower())
        return (contact, []) if contact else (None, [rules.CONTACT_NOT_FOUND])
    if data.get("ContactNumber"):
        number = str(data["ContactNumber"])
        contact = next((c for c in org.contacts.values() if c.contact_number == number), None)
        if contact:
            return contact, []
        if not data.get("Name"):
            return None, [rules.CONTACT_NOT_FOUND]
    name = str(data["Name"]).strip()
    contact = org.contact_by_name(name) or batch.new_contacts.get(name.casefold())
    if contact is None:
        # Xero creates a contact when an invoice names one it does not know.
        contact = Contact(new_id(), name, batch.now, contact_number=data.get("ContactNumber"))
        contact.history.append(
            HistoryRecord("Created", f"Contact {name} created.", batch.user, batch.now)
        )
        batch.new_contacts[name.casefold()] = contact
        batch.contact_names.add(name.casefold())
    return contact, []


def _number_problems(
    org: Organisation, invoice_type: str, number: str, batch: Batch, current: Invoice | None
) -> list[str]:
    if invoice_type != "ACCREC":
        return []  # bills carry the supplier's number, which need not be unique
    holder = org.invoice_by_number(number)
    if number in batch.invoice_numbers or (holder is not None and holder is not current):
        return [rules.INVOICE_NUMBER_NOT_UNIQUE]
    return []


def _header_fields(org: Organisation, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    fields: dict[str, Any] = {}
    messages: list[str] = []
    for key, attr in (
        ("Date", "date"),
        ("DueDate", "due_date"),
        ("ExpectedPaymentDate", "expected_payment_date"),
    ):
        if data.get(key):
            try:
                fields[attr] = parse_date(data[key])
            except ValueError:
                messages.append(f"{key} is not a valid date")  # sandbox wording
    if "Reference" in data:
        fields["reference"] = data.get("Reference") or ""
    if "Url" in data:
        fields["url"] = data.get("Url")
    if data.get("CurrencyCode"):
        if data["CurrencyCode"] != org.base_currency:
            messages.append(rules.currency_not_subscribed(data["CurrencyCode"]))
        fields["currency_code"] = data["CurrencyCode"]
    if data.get("BrandingThemeID"):
        theme_id = str(data["BrandingThemeID"]).lower()
        if theme_id not in org.branding_themes:
            messages.append(rules.BRANDING_THEME_NOT_FOUND)
        fields["branding_theme_id"] = theme_id
    lat = data.get("LineAmountTypes")
    if lat is not None and lat not in LINE_AMOUNT_TYPES:
        messages.append(f"LineAmountTypes {lat} is not valid")  # sandbox wording
    return fields, messages


def _lines(
    org: Organisation,
    data: dict[str, Any],
    invoice_type: str,
    status: str,
    unitdp: int,
    fields: dict[str, Any],
    current: Invoice | None = None,
) -> tuple[list[LineItem] | None, list[str], str]:
    lat = data.get("LineAmountTypes") or (current.line_amount_types if current else "Exclusive")
    if lat not in LINE_AMOUNT_TYPES:
        lat = "Exclusive"
    if "LineItems" not in data:
        if current is None:
            return [], [], lat
        # Re-check the kept lines: approving a draft needs every line coded.
        sent = [_line_as_sent(li) for li in current.line_items]
        # Stored unit amounts keep 4 places; re-read them at 4 so nothing is re-rounded.
        new_lines, messages = _build_lines(org, sent, invoice_type, status, 4, lat, current)
        return (new_lines if "LineAmountTypes" in data else None), messages, lat
    raw = data.get("LineItems") or []
    new_lines, messages = _build_lines(org, raw, invoice_type, status, unitdp, lat, current)
    return new_lines, messages, lat


def _line_as_sent(item: LineItem) -> dict[str, Any]:
    sent: dict[str, Any] = {
        "LineItemID": item.line_item_id,
        "Description": item.description,
        "Quantity": item.quantity,
        "UnitAmount": item.unit_amount,
        "Tracking": item.tracking,
    }
    for key, value in (
        ("AccountCode", item.account_code),
        ("TaxType", item.tax_type),
        ("ItemCode", item.item_code),
        ("DiscountRate", item.discount_rate),
    ):
        if value is not None:
            sent[key] = value
    return sent


def _build_lines(
    org: Organisation,
    raw_lines: list[Any],
    invoice_type: str,
    status: str,
    unitdp: int,
    lat: str,
    current: Invoice | None,
) -> tuple[list[LineItem], list[str]]:
    lines: list[LineItem] = []
    messages: list[str] = []
    known_ids = {li.line_item_id for li in current.line_items} if current else set()
    for raw in raw_lines:
        if not isinstance(raw, dict):
            messages.append("Line items must be objects")  # sandbox wording
            continue
        try:
            quantity = to_decimal(raw.get("Quantity", 1))
            discount = to_decimal(raw["DiscountRate"]) if raw.get("DiscountRate") else None
            if raw.get("UnitAmount") is not None:
                unit = round_unit_amount(to_decimal(raw["UnitAmount"]), unitdp)
            elif raw.get("LineAmount") is not None and quantity:
                unit = round_unit_amount(to_decimal(raw["LineAmount"]) / quantity, unitdp)
            else:
                unit = ZERO
        except ValueError as exc:
            messages.append(str(exc))
            continue
        code = raw.get("AccountCode")
        account = None
        if code:
            account, problem = rules.line_account_problem(org, str(code))
            if problem:
                messages.append(problem)
        elif status in ("SUBMITTED", "AUTHORISED"):
            messages.append(rules.ACCOUNT_CODE_REQUIRED)
        tax_type = raw.get("TaxType") or (account.tax_type if account else None)
        if tax_type is None and code is None:
            tax_type = org.default_sales_tax if invoice_type == "ACCREC" else None
        rate = Decimal(0)
        if tax_type:
            tax_rate, problems = rules.tax_rate_problems(org, str(tax_type), invoice_type, account)
            messages += problems
            if tax_rate is not None:
                rate = tax_rate.rate
        amount = line_amount(quantity, unit, discount)
        line_id = str(raw.get("LineItemID") or "").lower()
        lines.append(
            LineItem(
                line_item_id=line_id if line_id in known_ids else new_id(),
                description=str(raw.get("Description") or ""),
                quantity=quantity,
                unit_amount=unit,
                line_amount=amount,
                tax_amount=line_tax(amount, rate, lat),
                account_code=str(code) if code else None,
                tax_type=str(tax_type) if tax_type else None,
                item_code=raw.get("ItemCode"),
                discount_rate=discount,
                tracking=list(raw.get("Tracking") or []),
            )
        )
    return lines, messages


def _recompute(invoice: Invoice) -> None:
    """Totals from the lines: the sum of per-line rounded tax, never tax on the total."""
    lines_total = sum((li.line_amount for li in invoice.line_items), ZERO)
    tax_total = sum((li.tax_amount for li in invoice.line_items), ZERO)
    if invoice.line_amount_types == "Inclusive":
        invoice.sub_total = lines_total - tax_total
        invoice.total = lines_total
    else:
        invoice.sub_total = lines_total
        invoice.total = lines_total + tax_total
    invoice.total_tax = tax_total


def _next_number(org: Organisation, invoice_type: str) -> str:
    if invoice_type != "ACCREC":
        return ""
    while True:
        number = f"INV-{org.next_invoice_number:04d}"
        org.next_invoice_number += 1
        if org.invoice_by_number(number) is None:
            return number


def _default_theme(org: Organisation, invoice_type: str) -> str | None:
    theme = org.default_branding_theme() if invoice_type == "ACCREC" else None
    return theme.branding_theme_id if theme else None


def _today(batch: Batch) -> date:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(batch.now, tz=UTC).date()


def _unique(messages: list[str]) -> list[str]:
    return list(dict.fromkeys(messages))
