"""The service library: what can be invoiced, each tied to a sales account and tax rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    Select,
    String,
    Text,
    exists,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from billing.db import Base, UnitPrice, UTCDateTime, utcnow
from billing.errors import BillingError, NotFound, ServiceUnavailable
from billing.money import MAX_AMOUNT, check_currency


class ServiceCodeTaken(BillingError):
    """Another service already has this code."""


class TaxRateNameTaken(BillingError):
    """Another tax rate already has this name."""


class TaxRate(Base):
    """A local tax rate. Issue 3 maps each one used to a Xero TaxType."""

    __tablename__ = "tax_rates"
    __table_args__ = (
        CheckConstraint("rate_percent >= 0 AND rate_percent <= 100", name="rate"),
        # "VAT 20%" and "vat 20%" would be two rates nobody can tell apart in a list.
        Index("uq_tax_rates_name_lower", func.lower(text("name")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: Percentage, e.g. 20.0000 for 20 %.
    rate_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4, asdecimal=True))
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.rate_percent.normalize():f}%)"


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        # The code identifies the service (on invoices, in Xero): DESK-1 and desk-1 are one.
        Index("uq_services_code_lower", func.lower(text("code")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    unit_price: Mapped[Decimal] = mapped_column(UnitPrice())
    currency: Mapped[str] = mapped_column(String(3))
    #: Xero sales account code the service's invoice lines are posted to.
    sales_account_code: Mapped[str] = mapped_column(String(10))
    tax_rate_id: Mapped[int] = mapped_column(ForeignKey("tax_rates.id"), index=True)
    #: Archived services stay on old invoices but cannot be put on new ones.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tax_rate: Mapped[TaxRate] = relationship(lazy="joined")


@dataclass
class ServiceDetails:
    code: str
    name: str
    unit_price: Decimal
    currency: str
    sales_account_code: str
    tax_rate_id: int
    description: str = ""


def _check(db: Session, details: ServiceDetails, service_id: int | None) -> None:
    if details.unit_price < 0:
        raise BillingError("Unit price cannot be negative.")
    if details.unit_price > MAX_AMOUNT:
        raise BillingError("Unit price is larger than the portal accepts.")
    # Raises InvalidAmount for a code that is not an ISO currency (e.g. ABC).
    details.currency = check_currency(details.currency)
    tax_rate = db.get(TaxRate, details.tax_rate_id)
    if tax_rate is None or not tax_rate.active:
        raise BillingError("Choose one of the listed tax rates.")
    clash = db.scalar(select(Service.id).where(func.lower(Service.code) == details.code.lower()))
    if clash is not None and clash != service_id:
        raise _code_taken(details.code)


def _code_taken(code: str) -> ServiceCodeTaken:
    return ServiceCodeTaken(f"Service code {code} is already in use.")


def _flush_unique(db: Session, error: BillingError, *objects: Base) -> None:
    """Flush ``objects``; a unique index refusing them (another admin saved the same name
    between our check and now) becomes ``error`` instead of a failed transaction."""
    try:
        with db.begin_nested():
            db.add_all(objects)
            db.flush()
    except IntegrityError:
        raise error from None


def create_service(db: Session, details: ServiceDetails) -> Service:
    _check(db, details, None)
    service = Service(**details.__dict__)
    _flush_unique(db, _code_taken(details.code), service)
    return service


def update_service(db: Session, service: Service, details: ServiceDetails) -> Service:
    _check(db, details, service.id)
    for key, value in details.__dict__.items():
        setattr(service, key, value)
    _flush_unique(db, _code_taken(details.code), service)
    return service


def set_service_active(db: Session, service: Service, active: bool) -> None:
    service.active = active
    db.flush()


def delete_service(db: Session, service: Service) -> None:
    """Only a service that was never invoiced can go; the rest are archived."""
    from billing.invoices.model import InvoiceLine

    if db.scalar(select(exists().where(InvoiceLine.service_id == service.id))):
        raise BillingError("This service is on invoices, so it can only be archived.")
    db.delete(service)
    db.flush()


def get_service(db: Session, service_id: int) -> Service:
    service = db.get(Service, service_id)
    if service is None:
        raise NotFound("No such service.")
    return service


def get_invoiceable_service(db: Session, service_id: int) -> Service:
    service = db.get(Service, service_id)
    if service is None or not service.active:
        raise ServiceUnavailable("That service is archived or does not exist.")
    return service


def search_services(
    db: Session, query: str = "", include_archived: bool = False
) -> Select[Service]:
    stmt = select(Service).order_by(Service.active.desc(), Service.code)
    if not include_archived:
        stmt = stmt.where(Service.active.is_(True))
    if query:
        # autoescape: what an admin types is matched literally, never as a LIKE wildcard.
        stmt = stmt.where(
            or_(
                *(
                    column.icontains(query.strip(), autoescape=True)
                    for column in (Service.code, Service.name, Service.description)
                )
            )
        )
    return stmt


def active_tax_rates(db: Session) -> list[TaxRate]:
    return list(db.scalars(select(TaxRate).where(TaxRate.active.is_(True)).order_by(TaxRate.name)))


def add_tax_rate(db: Session, name: str, rate_percent: Decimal) -> TaxRate:
    if not Decimal(0) <= rate_percent <= Decimal(100):
        raise BillingError("A tax rate is between 0 and 100 percent.")
    taken = TaxRateNameTaken(f"A tax rate called {name} already exists.")
    if db.scalar(select(TaxRate.id).where(func.lower(TaxRate.name) == name.lower())) is not None:
        raise taken
    rate = TaxRate(name=name, rate_percent=rate_percent)
    _flush_unique(db, taken, rate)
    return rate


def get_tax_rate(db: Session, rate_id: int) -> TaxRate:
    rate = db.get(TaxRate, rate_id)
    if rate is None:
        raise NotFound("No such tax rate.")
    return rate
