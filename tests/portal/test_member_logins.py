"""Admins deactivate, reactivate and invite member logins; members set a password with the
one-time link. The app's clock is frozen, so link expiry is tested without waiting."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from billing.users import User
from tests import factories
from tests.conftest import login
from tests.portal.clocks import freeze
from xero.models import AuditEntry

NEW = "a password of my own"


@pytest.fixture
def clock(app):
    return freeze(app)


def base(member) -> str:
    return f"/admin/customers/{member.customer_id}/members/{member.id}"


def test_deactivation_asks_first_then_signs_the_member_out(app, db, admin_client, member):
    members_browser = app.test_client()
    login(members_browser, member.email)
    page = admin_client.get(f"{base(member)}/deactivate")
    assert page.status_code == 200
    assert b"Deactivate this login?" in page.data
    assert db.get(User, member.id).active  # asking changed nothing

    response = admin_client.post_form(f"{base(member)}/deactivate")
    assert response.status_code == 302
    db.expire_all()
    assert not db.get(User, member.id).active
    assert members_browser.get("/").status_code == 302
    assert login(app.test_client(), member.email).status_code == 401
    assert b"Deactivated" in admin_client.get(f"/admin/customers/{member.customer_id}").data
    actions = db.scalars(select(AuditEntry.action)).all()
    assert "member.deactivated" in actions

    admin_client.post_form(f"{base(member)}/reactivate")
    db.expire_all()
    assert db.get(User, member.id).active
    assert login(app.test_client(), member.email).status_code == 302


def test_a_member_of_another_customer_is_not_found(db, admin_client, member):
    other = factories.CustomerFactory()
    url = f"/admin/customers/{other.id}/members/{member.id}"
    assert admin_client.get(f"{url}/deactivate").status_code == 404
    assert admin_client.post_form(f"{url}/deactivate").status_code == 404
    assert admin_client.post_form(f"{url}/invitation").status_code == 404
    db.expire_all()
    assert db.get(User, member.id).active


def test_members_cannot_use_the_admin_routes(app, db, member, member_client):
    other = factories.MemberFactory()
    assert member_client.post_form(f"{base(other)}/deactivate").status_code == 403
    db.expire_all()
    assert db.get(User, other.id).active


def invitation_link(admin_client, member) -> str:
    response = admin_client.post_form(f"{base(member)}/invitation")
    assert response.status_code == 200
    found = re.search(rb'value="(http://[^"]+/invitation/[^"]+)"', response.data)
    assert found, response.data
    return found.group(1).decode().split("localhost", 1)[1]


def test_the_invitation_link_sets_a_password_once(app, db, clock, admin_client, member):
    link = invitation_link(admin_client, member)
    invited = app.test_client()
    assert member.email.encode() in invited.get(link).data
    response = invited.post_form(link, {"new": NEW, "confirm": NEW})
    assert response.status_code == 302
    assert invited.get("/").status_code == 200  # signed in
    assert login(app.test_client(), member.email, NEW).status_code == 302
    # Used once: the same link is dead now.
    again = app.test_client()
    assert again.get(link).status_code == 410
    assert (
        again.post_form(link, {"new": "someone else's", "confirm": "someone else's"}).status_code
        == 410
    )


def test_the_invitation_link_expires(app, db, clock, admin_client, member):
    link = invitation_link(admin_client, member)
    clock.advance(hours=71, minutes=59)
    assert app.test_client().get(link).status_code == 200
    clock.advance(minutes=2)
    response = app.test_client().get(link)
    assert response.status_code == 410
    assert b"expired" in response.data


def test_a_forged_or_cut_link_is_refused(app, db, admin_client, member):
    link = invitation_link(admin_client, member)
    assert app.test_client().get(link[:-3]).status_code == 400
    assert app.test_client().get("/invitation/" + "x" * 600).status_code == 400


def test_a_short_password_is_refused_and_the_link_still_works(app, db, admin_client, member):
    link = invitation_link(admin_client, member)
    client = app.test_client()
    response = client.post_form(link, {"new": "short", "confirm": "short"})
    assert response.status_code == 422
    assert b"Use 10 to 200 characters." in response.data
    assert client.get(link).status_code == 200


def test_no_invitation_for_a_deactivated_login(app, db, admin_client, member):
    admin_client.post_form(f"{base(member)}/deactivate")
    response = admin_client.post_form(f"{base(member)}/invitation", follow_redirects=True)
    assert b"Reactivate the login before inviting them." in response.data
