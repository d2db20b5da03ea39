"""``flask`` commands: database migrations, users and the demo.

A command is a unit of work like a request: it commits once, at its end.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from billing.errors import BillingError
from billing.users import Role, create_user, find_user_by_email
from portal import migrations
from portal.db import get_db

db_cli = AppGroup("db", help="Apply or roll back database migrations.")
users_cli = AppGroup("users", help="Create admins and reset passwords.")
demo_cli = AppGroup("demo", help="Demo data for trying the portal.")


def init_app(app: Flask) -> None:
    for group in (db_cli, users_cli, demo_cli):
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
        user.set_password(password)
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    db.commit()
    click.echo(f"Password for {user.email} changed.")


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
