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
from billing.recurring.periods import Cycle, Proration, Timing


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
        CheckConstraint(
            "cycle IS NULL OR cycle IN ('weekly', 'monthly', 'quarterly', 'yearly')",
            name="cycle_known",
        ),
        CheckConstraint("timing IN ('advance', 'arrears')", name="timing_known"),
        CheckConstraint("prorate_start IN ('none', 'by_day')", name="prorate_start_known"),
        CheckConstraint("prorate_end IN ('none', 'by_day')", name="prorate_end_known"),
        CheckConstraint("minimum_term_periods >= 0", name="minimum_term_not_negative"),
        CheckConstraint("notice_days >= 0", name="notice_not_negative"),
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
    #: A plan (desk, office, virtual office) is billed every period of its cycle to each
    #: customer with a membership of it; None: a one-off service.
    cycle: Mapped[str | None] = mapped_column(String(10))
    #: Billed in advance (on a period's first day) or in arrears (once it is over).
    timing: Mapped[str] = mapped_column(String(10), default=Timing.ADVANCE)
    #: A membership starting or ending inside a period pays its days (by_day) or all of it.
    prorate_start: Mapped[str] = mapped_column(String(10), default=Proration.BY_DAY)
    prorate_end: Mapped[str] = mapped_column(String(10), default=Proration.BY_DAY)
    #: Periods a membership is billed for at least, unless an admin overrides it.
    minimum_term_periods: Mapped[int] = mapped_column(default=0)
    #: Days between giving notice and the earliest end.
    notice_days: Mapped[int] = mapped_column(default=0)

    tax_rate: Mapped[TaxRate] = relationship(lazy="joined")

    @property
    def is_plan(self) -> bool:
        return self.cycle is not None

    @property
    def period_name(self) -> str:
        """The name of one period: month for a monthly plan (empty for a one-off service)."""
        return Cycle(self.cycle).period_name if self.cycle else ""


@dataclass
class ServiceDetails:
    code: str
    name: str
    unit_price: Decimal
    currency: str
    sales_account_code: str
    tax_rate_id: int
    description: str = ""
    #: A plan's terms (``cycle`` None: a one-off service, and the rest are left as they are).
    cycle: str | None = None
    timing: str = Timing.ADVANCE
    prorate_start: str = Proration.BY_DAY
    prorate_end: str = Proration.BY_DAY
    minimum_term_periods: int = 0
    notice_days: int = 0


#: Longest minimum term and notice an admin can set: ten years of monthly periods, a year.
MAX_MINIMUM_TERM = 120
MAX_NOTICE_DAYS = 366


def _check_plan(details: ServiceDetails) -> None:
    if details.cycle is None:
        return
    for value, kind, what in (
        (details.cycle, Cycle, "billing cycle"),
        (details.timing, Timing, "billing timing"),
        (details.prorate_start, Proration, "proration of a start"),
        (details.prorate_end, Proration, "proration of an end"),
    ):
        if value not in {member.value for member in kind}:
            raise BillingError(f"Choose one of the listed options for the {what}.")
    if details.unit_price <= 0:
        # Its memberships would invoice nothing, and an invoice of nothing cannot be issued.
        raise BillingError("A plan's price must be above 0.")
    if not 0 <= details.minimum_term_periods <= MAX_MINIMUM_TERM:
        raise BillingError(f"The minimum term is 0 to {MAX_MINIMUM_TERM} periods.")
    if not 0 <= details.notice_days <= MAX_NOTICE_DAYS:
        raise BillingError(f"The notice period is 0 to {MAX_NOTICE_DAYS} days.")


def _check(db: Session, details: ServiceDetails, service_id: int | None) -> None:
    _check_plan(details)
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
    if details.cycle != service.cycle:
        from billing.recurring.model import Membership

        if db.scalar(select(exists().where(Membership.service_id == service.id))):
            raise BillingError(
                "Customers have memberships of this plan, so its billing cycle cannot change: "
                "make a new plan and move them to it."
            )
    for key, value in details.__dict__.items():
        setattr(service, key, value)
    _flush_unique(db, _code_taken(details.code), service)
    return service


def set_service_active(db: Session, service: Service, active: bool) -> None:
    service.active = active
    db.flush()


def delete_service(db: Session, service: Service) -> None:
    """Only a service that was never invoiced, and that no membership or pending charge
    names, can go; the rest are archived."""
    from billing.invoices.model import InvoiceLine
    from billing.recurring.model import Membership, PendingCharge

    if db.scalar(select(exists().where(InvoiceLine.service_id == service.id))):
        raise BillingError("This service is on invoices, so it can only be archived.")
    if db.scalar(select(exists().where(Membership.service_id == service.id))):
        raise BillingError("Customers have memberships of this plan, so it can only be archived.")
    if db.scalar(select(exists().where(PendingCharge.service_id == service.id))):
        raise BillingError("Charges for this service are pending, so it can only be archived.")
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


def active_plans(db: Session) -> list[Service]:
    """Services members can be put on: active, with a billing cycle."""
    return list(
        db.scalars(
            select(Service)
            .where(Service.active.is_(True), Service.cycle.is_not(None))
            .order_by(Service.name)
        )
    )


def active_one_offs(db: Session) -> list[Service]:
    """Services a one-off charge can be for: active, without a billing cycle."""
    return list(
        db.scalars(
            select(Service)
            .where(Service.active.is_(True), Service.cycle.is_(None))
            .order_by(Service.name)
        )
    )


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
