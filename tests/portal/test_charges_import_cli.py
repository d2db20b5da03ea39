"""``flask billing charges import FILE.csv``: every row loaded, or none with each bad row
named; files that are not charges files refused before anything is read into the books."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from billing.recurring.model import PendingCharge
from portal import cli
from tests.factories import CustomerFactory, ServiceFactory


def charges_import(app, path):
    return app.test_cli_runner().invoke(args=["billing", "charges", "import", str(path)])


def count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(PendingCharge))


def setting(db):
    ServiceFactory(code="ROOM-H", name="Meeting room hour", unit_price=Decimal("25"))
    acme = CustomerFactory(ledger_code="ACME", name="Acme")
    zed = CustomerFactory(ledger_code="ZED", name="Zed")
    db.commit()
    return acme, zed


def test_a_good_file_loads_every_row(app, db, tmp_path):
    acme, zed = setting(db)
    today = date.today().isoformat()
    path = tmp_path / "charges.csv"
    path.write_text(
        "customer,service,quantity,date,description\n"
        f"ACME,ROOM-H,2,{today},Board meeting\n"
        f"ZED,ROOM-H,1,{today},\n"
        f"ACME,room-h,3,{today},Workshop\n",
        encoding="utf-8-sig",  # as Excel saves "CSV UTF-8"
    )
    result = charges_import(app, path)
    assert result.exit_code == 0, result.output
    assert "3 charges loaded for 2 customers: they go on each customer's next invoice" in (
        result.output
    )
    assert count(db) == 3
    again = charges_import(app, path)  # the output was lost, say, and it is run again
    assert again.exit_code == 1 and "this file was loaded already" in again.output
    assert count(db) == 3


def test_a_file_with_bad_rows_loads_nothing_and_names_each(app, db, tmp_path):
    setting(db)
    today = date.today().isoformat()
    path = tmp_path / "charges.csv"
    path.write_text(
        "customer,service,quantity,date\n"
        f"ACME,ROOM-H,2,{today}\n"
        f"NOBODY,ROOM-H,1,{today}\n"
        f"ACME,ROOM-H,0.000001,{today}\n"
    )
    result = charges_import(app, path)
    assert result.exit_code == 1
    assert "line 3: no customer has the ledger code or e-mail 'NOBODY'" in result.output
    assert "line 4: A quantity can have at most 4 decimal places." in result.output
    assert "2 errors in " in result.output and ": nothing was loaded." in result.output
    assert count(db) == 0


def test_files_it_refuses(app, db, tmp_path, monkeypatch):
    setting(db)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "customer,service,quantity,date\nCafé,ROOM-H,1,2026-12-01\n".encode("latin-1")
    )
    result = charges_import(app, latin)
    assert result.exit_code == 1 and "is not UTF-8 text: save it as CSV UTF-8." in result.output

    monkeypatch.setattr(cli, "MAX_IMPORT_BYTES", 10)
    big = tmp_path / "big.csv"
    big.write_text("customer,service,quantity,date\n")
    result = charges_import(app, big)
    assert result.exit_code == 1 and "split it" in result.output

    missing = charges_import(app, tmp_path / "nowhere.csv")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert count(db) == 0
