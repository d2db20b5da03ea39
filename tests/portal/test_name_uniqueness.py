"""Tax-rate names and service codes are unique whatever their case: in the form (a field
error), under a race (two admins at once on PostgreSQL: still a field error, never a 500)
and in the migration (which refuses to run over names that differ only in case)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from billing.services import (
    Service,
    ServiceCodeTaken,
    ServiceDetails,
    TaxRate,
    TaxRateNameTaken,
    add_tax_rate,
    create_service,
)
from portal import migrations
from portal.db import make_engine
from tests.factories import ServiceFactory, TaxRateFactory, domain_session


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_a_tax_rate_name_in_another_case_is_refused(db, admin_client):
    TaxRateFactory(name="Standard VAT", rate_percent=Decimal("20"))
    db.commit()
    before = count(db, TaxRate)
    response = admin_client.post_form(
        "/admin/tax-rates", {"name": "STANDARD vat", "rate_percent": "20"}
    )
    assert response.status_code == 422
    assert b"A tax rate called STANDARD vat already exists." in response.data
    assert count(db, TaxRate) == before


def test_a_service_code_in_another_case_is_refused(db, admin_client):
    vat = TaxRateFactory(name="Standard", rate_percent=Decimal("20"))
    ServiceFactory(code="DESK-HOT", tax_rate=vat)
    db.commit()
    before = count(db, Service)
    response = admin_client.post_form(
        "/admin/services/new",
        {
            "code": "desk-hot",
            "name": "Hot desk",
            "unit_price": "24.95",
            "currency": "GBP",
            "sales_account_code": "200",
            "tax_rate_id": str(vat.id),
        },
    )
    assert response.status_code == 422
    assert b"Service code desk-hot is already in use." in response.data
    assert count(db, Service) == before


@pytest.fixture
def engine(fresh_database_url):
    url = fresh_database_url("names")
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=4) if not url.startswith("sqlite") else make_engine(url)
    yield engine
    engine.dispose()


def race(engine, make) -> list[str]:
    """Two sessions run ``make(db, n)`` at once; each commits or says which error it got."""
    start = threading.Barrier(2)

    def attempt(n: int) -> str:
        with domain_session(engine) as db:
            start.wait()
            try:
                make(db, n)
                db.commit()
            except (TaxRateNameTaken, ServiceCodeTaken) as error:
                db.rollback()
                return type(error).__name__
            return "saved"

    with ThreadPoolExecutor(2) as pool:
        return sorted(pool.map(attempt, [0, 1]))


def test_two_admins_adding_one_tax_rate_at_once(engine):
    outcomes = race(engine, lambda db, n: add_tax_rate(db, ["Reduced", "REDUCED"][n], Decimal(5)))
    assert outcomes == ["TaxRateNameTaken", "saved"]
    with domain_session(engine) as db:
        assert db.scalar(select(func.count()).where(func.lower(TaxRate.name) == "reduced")) == 1


def test_two_admins_adding_one_service_code_at_once(engine):
    with domain_session(engine) as db, db.begin():
        rate_id = add_tax_rate(db, "Standard", Decimal(20)).id

    def make(db, n):
        create_service(
            db,
            ServiceDetails(
                code=["ROOM-1", "room-1"][n],
                name="Meeting room",
                unit_price=Decimal("30"),
                currency="GBP",
                sales_account_code="200",
                tax_rate_id=rate_id,
            ),
        )

    assert race(engine, make) == ["ServiceCodeTaken", "saved"]


def test_the_migration_refuses_names_that_differ_only_in_case(fresh_database_url):
    url = fresh_database_url("names_migration")
    migrations.upgrade(url, "0012")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for name in ("Zero rated", "ZERO RATED"):
                connection.execute(
                    text(
                        "INSERT INTO tax_rates (name, rate_percent, active) VALUES (:name, 0, true)"
                    ),
                    {"name": name},
                )
        with pytest.raises(RuntimeError, match="'zero rated'. Rename one of each"):
            migrations.upgrade(url)
    finally:
        engine.dispose()
