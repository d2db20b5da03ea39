"""``flask users`` and ``flask demo`` commands, run through Flask's CLI runner."""

from __future__ import annotations

from sqlalchemy import func, select

from billing.users import Role, User
from tests import factories
from tests.conftest import login

NEW_PASSWORD = "a brand new password"


def committed(db, user: User) -> User:
    """Make fixture rows survive the rollback a failing command does (only a savepoint here)."""
    db.commit()
    return user


def users_named(db, email: str) -> list[User]:
    db.expire_all()
    return list(db.scalars(select(User).where(func.lower(User.email) == email.lower())))


def test_create_admin(app, db):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create-admin",
            "--email",
            "Boss@Example.com",
            "--name",
            "Boss",
            "--password",
            NEW_PASSWORD,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Admin boss@example.com created." in result.output
    [user] = users_named(db, "boss@example.com")
    assert user.role == Role.ADMIN
    assert user.name == "Boss"
    assert user.password_hash.startswith("$argon2id$")
    assert user.check_password(NEW_PASSWORD)
    # The new admin can sign in.
    client = app.test_client()
    response = login(client, "boss@example.com", NEW_PASSWORD)
    assert response.headers["Location"] == "/admin/"


def test_create_admin_with_a_taken_email_fails_clearly(app, db, member):
    email = committed(db, member).email
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "--email", email.upper(), "--password", NEW_PASSWORD]
    )
    assert result.exit_code != 0
    assert f"A login for {email} already exists." in result.output
    [user] = users_named(db, email)
    assert user.role == Role.MEMBER
    assert user.check_password(factories.PASSWORD)


def test_create_admin_refuses_a_short_password(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "--email", "short@example.com", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    assert users_named(db, "short@example.com") == []


def test_create_admin_prompts_for_the_password_twice(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "--email", "prompted@example.com"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output  # hidden input
    [user] = users_named(db, "prompted@example.com")
    assert user.check_password(NEW_PASSWORD)


def test_reset_password(app, db, member):
    result = app.test_cli_runner().invoke(
        args=["users", "reset-password", "--email", member.email, "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert f"Password for {member.email} changed; its sessions are signed out." in result.output
    [user] = users_named(db, member.email)
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(factories.PASSWORD)
    client = app.test_client()
    assert login(client, member.email, factories.PASSWORD).status_code == 401
    assert login(client, member.email, NEW_PASSWORD).status_code == 302


def test_reset_password_of_an_unknown_email_fails(app, db):
    result = app.test_cli_runner().invoke(
        args=["users", "reset-password", "--email", "ghost@example.com", "--password", NEW_PASSWORD]
    )
    assert result.exit_code != 0
    assert "No login with email ghost@example.com." in result.output


def test_reset_password_refuses_a_short_password(app, db, member):
    email = committed(db, member).email
    result = app.test_cli_runner().invoke(
        args=["users", "reset-password", "--email", email, "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    [user] = users_named(db, email)
    assert user.check_password(factories.PASSWORD)


def test_demo_seed_refuses_outside_demo_mode(app, db):
    before = db.scalar(select(func.count()).select_from(User))
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert "only seeded in demo mode" in result.output
    assert db.scalar(select(func.count()).select_from(User)) == before
