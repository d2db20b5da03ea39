"""``flask`` commands: database migrations, users and the demo.

A command is a unit of work like a request: it commits once, at its end.
"""

from __future__ import annotations

import os
import time
from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from billing.errors import BillingError
from billing.logins import change_password
from billing.users import Role, create_user, find_user_by_email
from portal import migrations
from portal.db import get_db

db_cli = AppGroup("db", help="Apply or roll back database migrations.")
xero_cli = AppGroup("xero", help="Sync with Xero.")
users_cli = AppGroup("users", help="Create admins and reset passwords.")
demo_cli = AppGroup("demo", help="Demo data for trying the portal.")


def init_app(app: Flask) -> None:
    for group in (db_cli, users_cli, demo_cli, xero_cli, billing_cli):
        app.cli.add_command(group)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: the latest)."""
    migrations.upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database upgraded to {revision}.")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Roll the database back to REVISION (default: one step)."""
    migrations.downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database downgraded to {revision}.")


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    migrations.current(current_app.config["DATABASE_URL"])


def _password_option(f):
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="Prompted for when not given (never put it in shell history in production).",
    )(f)


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", default="Administrator", show_default=True)
@_password_option
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin login."""
    db = get_db()
    try:
        user = create_user(db, email=email, name=name, password=password, role=Role.ADMIN)
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    db.commit()
    click.echo(f"Admin {user.email} created.")


@users_cli.command("reset-password")
@click.option("--email", required=True)
@_password_option
def reset_password(email: str, password: str) -> None:
    """Set a new password for any login (admin or member)."""
    db = get_db()
    user = find_user_by_email(db, email)
    if user is None:
        raise click.ClickException(f"No login with email {email}.")
    try:
        change_password(db, user, password)
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    db.commit()
    click.echo(f"Password for {user.email} changed; its sessions are signed out.")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Fill an empty database with demo data and print the demo logins."""
    from portal.demo import DEMO_LOGINS, seed_demo

    if not current_app.config["PORTAL_DEMO"]:
        raise click.ClickException("Demo data is only seeded in demo mode (PORTAL_DEMO=1).")
    db = get_db()
    created = seed_demo(db)
    db.commit()
    click.echo("Demo data created." if created else "Demo data already present.")
    click.echo("\nDemo logins (password after the colon):")
    for role, email, password in DEMO_LOGINS:
        click.echo(f"  {role:<8} {email} : {password}")
    click.echo()


@demo_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def demo_serve(host: str, port: int) -> None:
    """Serve the demo: the portal, the built-in Xero sandbox (connected) and a sync worker."""
    from portal.worker import start_worker_thread
    from portal.xero_setup import connect_demo, start_demo_sandbox

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["PORTAL_DEMO"]:
        raise click.ClickException("`demo serve` runs only in demo mode (PORTAL_DEMO=1).")
    sandbox_url = start_demo_sandbox(app, port)
    db = get_db()
    admin = find_user_by_email(db, "admin@example.com")
    connect_demo(db, app, admin.id if admin else None)
    db.commit()
    start_worker_thread(app)
    click.echo(f"Xero sandbox (the demo's Xero): {sandbox_url}  (connected, sync worker running)")
    from portal.demo_stripe import start_demo_stripe

    stripe_url = start_demo_stripe(app, port)
    if stripe_url:
        click.echo(f"Stripe stand-in (localstripe): {stripe_url}  (test card 4242 4242 4242 4242)")
    click.echo(f"Portal: http://{host}:{port}")
    # Flask refuses app.run() inside its own CLI; werkzeug's server is what it would use.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True)


@xero_cli.command("worker")
@click.option("--once", is_flag=True, help="Carry out what is due, then exit (for cron).")
def xero_worker(once: bool) -> None:
    """Handle webhook events and sync jobs, and poll Xero: forever, or --once until idle."""
    from portal.worker import job_runner

    worker = job_runner(current_app._get_current_object())  # type: ignore[attr-defined]
    if once:
        click.echo(f"{worker.drain()} sync jobs handled.")
        return
    click.echo("Xero sync worker started; Ctrl+C stops it.")
    worker.run_forever(current_app.config["XERO_WORKER_INTERVAL"])


billing_cli = AppGroup("billing", help="Billing runs and checks on the books.")


@billing_cli.command("reconcile")
@click.option("--check", is_flag=True, required=True, help="Compare only; change nothing.")
def reconcile(check: bool) -> None:
    """Compare every synced invoice with Xero; list mismatches; exit 1 if there are any.

    Queues a ledger-check run (or joins the one under way) and carries it out here, chunk
    by chunk, with the same runner as the background worker (which may share the work);
    waits in this process when Xero's rate budget is spent."""
    import time

    from portal.xero_setup import xero_integration
    from xero.admin.ledger_check import LedgerCheckRunner, result_of, start_run
    from xero.models import LedgerCheckRun, LedgerCheckStatus

    service = xero_integration()
    db = get_db()
    started = start_run(db, None, service.clock())
    db.commit()
    run_id = started.id
    click.echo(f"Ledger check {run_id}: {started.total} invoices to check.")
    runner = LedgerCheckRunner(
        service.session_factory, service.ledger_check_api, clock=service.clock
    )
    shown = -1
    while True:
        did = runner.run_once()
        with service.session_factory() as session:
            run = session.get(LedgerCheckRun, run_id)
        assert run is not None
        if run.finished:
            break
        if run.checked != shown:
            shown = run.checked
            click.echo(f"checked {run.checked} of {run.total}")
        if not did:
            wait = 1.0
            if run.locked_until is not None:
                wait = (run.locked_until - service.clock()).total_seconds()
            time.sleep(min(max(wait, 0.05), 5.0))
    if run.status == LedgerCheckStatus.FAILED:
        raise click.ClickException(f"Xero could not be read: {run.error}")
    result = result_of(db, run)
    for violation in result.portal_violations:
        click.echo(f"portal books: {violation}")
    for mismatch in result.mismatches:
        click.echo(str(mismatch))
    for missing in result.not_in_xero:
        click.echo(f"{missing.invoice_number}: issued but never reached Xero")
    for unknown in result.unknown_in_xero:
        click.echo(f"{unknown.invoice_number}: in Xero ({unknown.xero}), unknown to the portal")
    if result.portal_violations:
        click.echo(f"{len(result.portal_violations)} invoices disagree with their own payments.")
    click.echo(
        f"{result.checked} invoices checked, {len(result.mismatches)} mismatches, "
        f"{len(result.not_in_xero)} never reached Xero, "
        f"{len(result.unknown_in_xero)} unknown to the portal."
    )
    if not result.ok:
        raise SystemExit(1)


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date such as 2026-12-01.") from None


@billing_cli.command("run")
@click.option("--date", "billing_date", required=True, help="The billing date, YYYY-MM-DD.")
@click.option("--dry-run", is_flag=True, help="Show what would be invoiced; save nothing.")
def billing_run(billing_date: str, dry_run: bool) -> None:
    """Invoice every membership period due by the billing date: one invoice per customer
    (and currency), issued and sent to Xero by the worker. Running it again, or after a
    crash, invoices nothing twice."""
    from billing.money import format_money
    from billing.recurring import run as billing

    day = _day(billing_date)
    billing_day = current_app.config["BILLING_DAY"]
    try:
        billing.check_billing_date(day, date.today(), billing_day)
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    if dry_run:
        shown = billing.preview(get_db(), day, billing_day=billing_day)
        for bill in shown.bills:
            totals = bill.totals
            click.echo(
                f"{bill.customer.name}: {_counted(len(bill.lines), 'line')}, "
                f"{format_money(totals.total, bill.currency)} "
                f"(tax {format_money(totals.total_tax, bill.currency)})"
            )
            for line in bill.lines:
                click.echo(
                    f"  {line.description}: {line.quantity.normalize():f} x {line.unit_price}"
                    f" = {format_money(line.totals.line_amount, bill.currency)}"
                )
            for warning in bill.warnings:
                click.echo(f"  warning: {warning}")
        for (currency, rate), tax in shown.tax_by_currency_and_rate().items():
            click.echo(f"tax {rate}: {format_money(tax, currency)}")
        grand = ", ".join(
            format_money(total, currency) for currency, total in shown.totals_by_currency().items()
        )
        click.echo(
            f"Dry run for {day:%d %b %Y}: {_counted(shown.invoice_count(), 'invoice')}, "
            f"{grand or 'nothing to invoice'}; "
            "nothing was saved."
        )
        return
    from billing.recurring import runner
    from portal.clock import now

    db = get_db()
    try:
        run = runner.start_run(db, day, now=now(), billing_day=billing_day)
    except runner.NothingDue as nothing:
        click.echo(str(nothing))
        return
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    db.commit()  # queued: the page shows it, and a worker may share its chunks
    billing_runner = runner.BillingRunner(
        current_app.extensions["db_session_factory"],
        prefix=current_app.config["INVOICE_PREFIX"],
        billing_day=billing_day,
    )
    while not run.finished:
        if not billing_runner.run_once():
            time.sleep(1)  # a worker holds this chunk: wait for it
        db.refresh(run)
        db.commit()  # no transaction (SQLite: no write lock) held between chunks
        click.echo(f"billed {run.done} of {run.total} customers")
    for failure in runner.failures_of(db, run):
        click.echo(f"{failure.customer.name} not billed: {failure.reason}")
    click.echo(
        f"Billing run {run.id} for {day:%d %b %Y}: {_counted(run.invoices, 'invoice')} issued "
        f"for {_counted(run.done - run.failed, 'customer')}, {run.failed} not billed."
    )
    if run.failed:
        raise SystemExit(1)


charges_cli = AppGroup("charges", help="One-off charges for customers' next invoices.")
billing_cli.add_command(charges_cli)

#: A charges file larger than this is refused before it is read (about 10,000 rows).
MAX_IMPORT_BYTES = 4 * 1024 * 1024


@charges_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def charges_import(path: str) -> None:
    """Load pending charges from a CSV file with the columns customer (ledger code or
    e-mail), service (code), quantity, date (YYYY-MM-DD) and, optionally, description and
    unit_price. Every row is checked first: with any error nothing is loaded, and each bad
    line is listed. The same file twice is refused."""
    from billing.recurring.charges import import_charges
    from portal.clock import now

    if os.path.getsize(path) > MAX_IMPORT_BYTES:
        raise click.ClickException(
            f"{path} is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB: split it."
        )
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text: save it as CSV UTF-8.") from None
    db = get_db()
    report = import_charges(db, text, today=now().date())
    if report.errors:
        db.rollback()  # nothing half-loaded
        for row, what in report.errors:
            click.echo(f"line {row}: {what}", err=True)
        raise click.ClickException(
            f"{_counted(len(report.errors), 'error')} in {path}: nothing was loaded."
        )
    db.commit()
    customers = {charge.customer_id for charge in report.added}
    click.echo(
        f"{_counted(len(report.added), 'charge')} loaded for "
        f"{_counted(len(customers), 'customer')}: they go on each customer's next invoice "
        "from the billing run."
    )


@xero_cli.command("pull")
def xero_pull() -> None:
    """Read invoices and payments changed in Xero since the last pull and apply them once."""
    from portal.xero_setup import xero_integration
    from xero.api.errors import XeroError
    from xero.sync.inbound import poller

    try:
        applied = poller.pull(xero_integration())
    except XeroError as error:
        raise click.ClickException(f"Xero could not be read: {error}") from None
    click.echo(f"{applied} invoices brought up to date from Xero.")
