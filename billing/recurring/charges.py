"""Pending charges: one-off charges for a customer (meeting-room hours, printing, a locker)
that wait for the customer's next invoice from the billing run, added by an admin or loaded
in bulk from a CSV file (all rows or none)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.customers import Customer, get_customer
from billing.errors import BillingError, InvalidAmount
from billing.money import MAX_AMOUNT, MAX_QUANTITY
from billing.recurring.model import ChargeImport, PendingCharge
from billing.services import Service, get_invoiceable_service

#: A charge dated further back or ahead than this is a typing mistake.
MAX_DATE_DISTANCE_DAYS = 366
MAX_DESCRIPTION = 500
#: Decimal places a quantity and a unit price may have (as on an invoice line).
PLACES = 4
#: Rows one import takes (larger files are split: each import is one transaction).
MAX_ROWS = 10_000
COLUMNS = ("customer", "service", "quantity", "date", "description", "unit_price")
REQUIRED = ("customer", "service", "quantity", "date")


class ChargeNotPending(BillingError):
    """The charge is on an invoice already (or gone): it cannot be removed."""


@dataclass
class ChargeDetails:
    service_id: int
    charged_on: date
    quantity: Decimal = Decimal(1)
    #: None: the service's unit price when the charge is invoiced.
    unit_price: Decimal | None = None
    description: str = ""


def _has_places(value: Decimal, places: int) -> bool:
    return value == value.quantize(Decimal(1).scaleb(-places))


def add_charge(
    db: Session,
    customer_id: int,
    details: ChargeDetails,
    *,
    today: date,
    created_by_id: int | None = None,
) -> PendingCharge:
    """Add a one-off charge to the customer's next invoice (flushes). Refuses, saving
    nothing: a plan or archived service, a quantity or price out of range or with more than
    4 decimals, a date more than a year away, a description too long."""
    customer = get_customer(db, customer_id)
    service = get_invoiceable_service(db, details.service_id)
    if service.is_plan:
        raise BillingError(f"{service.name} is a plan: put the customer on it instead.")
    if not Decimal(0) < details.quantity <= MAX_QUANTITY:
        raise InvalidAmount(f"The quantity must be above 0 and at most {MAX_QUANTITY:,}.")
    if not _has_places(details.quantity, PLACES):
        raise InvalidAmount("A quantity can have at most 4 decimal places.")
    if details.unit_price is not None:
        if not Decimal(0) < details.unit_price <= MAX_AMOUNT:
            raise InvalidAmount(f"The unit price must be above 0 and at most {MAX_AMOUNT:,}.")
        if not _has_places(details.unit_price, PLACES):
            raise InvalidAmount("A unit price can have at most 4 decimal places.")
    if abs((details.charged_on - today).days) > MAX_DATE_DISTANCE_DAYS:
        raise BillingError("A charge's date can be at most a year from today.")
    description = details.description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise BillingError(f"The description can be at most {MAX_DESCRIPTION} characters.")
    charge = PendingCharge(
        customer_id=customer.id,
        service_id=service.id,
        charged_on=details.charged_on,
        quantity=details.quantity,
        unit_price=details.unit_price,
        description=description,
        created_by_id=created_by_id,
    )
    db.add(charge)
    db.flush()
    return charge


def pending_charges_of(db: Session, customer_id: int) -> list[PendingCharge]:
    """The customer's charges not invoiced yet, oldest first."""
    return list(
        db.scalars(
            select(PendingCharge)
            .where(PendingCharge.customer_id == customer_id, PendingCharge.invoice_id.is_(None))
            .order_by(PendingCharge.charged_on, PendingCharge.id)
        )
    )


def remove_charge(db: Session, customer_id: int, charge_id: int) -> None:
    """Remove a charge not invoiced yet. One conditional DELETE: a billing run that put it
    on an invoice meanwhile wins, and the removal is refused."""
    removed = db.execute(
        delete(PendingCharge)
        .where(
            PendingCharge.id == charge_id,
            PendingCharge.customer_id == customer_id,
            PendingCharge.invoice_id.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(removed, "rowcount", 0):
        raise ChargeNotPending("That charge is on an invoice already, or was removed.")


@dataclass
class ImportReport:
    added: list[PendingCharge] = field(default_factory=list)
    #: (line of the file, the header being line 1; what is wrong)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _customer_for(db: Session, key: str) -> Customer:
    by_code = db.scalar(select(Customer).where(Customer.ledger_code == key))
    if by_code is not None:
        return by_code
    if "@" in key:
        found = db.scalars(
            select(Customer).where(func.lower(Customer.email) == key.lower()).limit(2)
        ).all()
        if len(found) == 1:
            return found[0]
        if found:
            raise BillingError(f"more than one customer has the e-mail {key}: use the ledger code")
    raise BillingError(f"no customer has the ledger code or e-mail {key!r}")


def _decimal(raw: str, what: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidAmount(f"{what} {raw!r} is not a number") from None
    if not value.is_finite():
        raise InvalidAmount(f"{what} {raw!r} is not a number")
    return value


def _rows(
    reader: csv.DictReader[str], report: ImportReport
) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's rows with something in them, as (row number, values by column); rows
    that are not rows of the columns go to the report."""
    rows = 0
    try:
        for row in reader:
            rows += 1
            if rows > MAX_ROWS:
                report.errors.append((reader.line_num, f"more than {MAX_ROWS:,} rows: split it"))
                return
            if None in row:
                report.errors.append((reader.line_num, "more values than columns"))
                continue
            values = {name: (row.get(name) or "").strip() for name in COLUMNS}
            if any(values.values()):  # not a blank line
                yield reader.line_num, values
    except csv.Error as error:  # an unclosed quote swallowing the rest, say
        # line_num is the last line read whole: the bad record begins on the next one.
        report.errors.append((reader.line_num + 1, f"not readable as CSV: {error}"))


def _load(
    db: Session,
    values: dict[str, str],
    services: dict[str, Service | None],
    *,
    today: date,
    created_by_id: int | None,
) -> PendingCharge:
    blank = [name for name in REQUIRED if not values[name]]
    if blank:
        raise BillingError(f"{', '.join(blank)} is empty")
    customer = _customer_for(db, values["customer"])
    code = values["service"].lower()
    if code not in services:
        services[code] = db.scalar(select(Service).where(func.lower(Service.code) == code))
    service = services[code]
    if service is None:
        raise BillingError(f"no service has the code {values['service']!r}")
    try:
        charged_on = date.fromisoformat(values["date"])
    except ValueError:
        raise BillingError(f"date {values['date']!r} is not like 2026-12-01") from None
    unit_price = values["unit_price"]
    details = ChargeDetails(
        service_id=service.id,
        charged_on=charged_on,
        quantity=_decimal(values["quantity"], "quantity"),
        unit_price=_decimal(unit_price, "unit price") if unit_price else None,
        description=values["description"],
    )
    # add_charge refuses before it adds anything: a bad row leaves nothing behind.
    return add_charge(db, customer.id, details, today=today, created_by_id=created_by_id)


def import_charges(
    db: Session, text: str, *, today: date, created_by_id: int | None = None
) -> ImportReport:
    """Load charges from CSV ``text`` (columns ``COLUMNS``; customer by ledger code or
    e-mail, service by code). Every row is checked; with any error nothing is kept (the
    rows loaded so far are rolled back to where the import began) and the report lists each
    bad row with what is wrong. Flushes."""
    report = ImportReport()
    digest = hashlib.sha256(text.encode()).hexdigest()
    earlier = db.scalar(select(ChargeImport).where(ChargeImport.sha256 == digest))
    if earlier is not None:
        report.errors.append(
            (
                1,
                f"this file was loaded already, on {earlier.imported_at:%d %b %Y at %H:%M} UTC "
                f"({earlier.charges} charges): loading it again would charge them twice",
            )
        )
        return report
    if "\x00" in text:
        report.errors.append((1, "the file holds a NUL character: is it a CSV text file?"))
        return report
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name or "(no name)" for name in header if name not in COLUMNS]
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if missing or unknown or twice:
        wrong = []
        if missing:
            wrong.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            wrong.append(f"unknown column(s) {', '.join(unknown)}")
        if twice:
            wrong.append(f"column(s) given twice: {', '.join(twice)}")
        report.errors.append((1, "; ".join(wrong) + f" (the columns are {', '.join(COLUMNS)})"))
        return report
    reader.fieldnames = header
    services: dict[str, Service | None] = {}
    with db.begin_nested() as loading:
        for number, values in _rows(reader, report):
            try:
                report.added.append(
                    _load(db, values, services, today=today, created_by_id=created_by_id)
                )
            except BillingError as error:
                report.errors.append((number, str(error)))
        if not report.added and not report.errors:
            report.errors.append((1, "the file has no charges, only its header"))
        if not report.errors:
            try:
                with db.begin_nested():
                    db.add(ChargeImport(sha256=digest, charges=len(report.added)))
            except IntegrityError:  # the same file, loaded at this very moment elsewhere
                report.errors.append((1, "this file is being loaded already"))
        if report.errors:
            loading.rollback()
            report.added = []
    return report
