"""A customer beside its Xero contact, against a served sandbox: the live contact, look-up
and link, changing the id by hand behind a typed confirmation, and Export to Xero."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.customers import Customer
from tests.factories import CustomerFactory
from tests.portal.pages import text
from xero.api.tokens import store_tokens
from xero.models import (
    AuditEntry,
    ConnectionStatus,
    JobKind,
    JobStatus,
    SyncJob,
    XeroConnection,
    XeroSettings,
)
from xero_sandbox.state import Contact as SandboxContact

MARKUP = "<script>alert(1)</script>"


@pytest.fixture
def xero_app(sandbox):
    return sandbox.sandbox.register_client(redirect_uris=["http://127.0.0.1/admin/xero/callback"])


@pytest.fixture
def app_settings(sandbox, xero_app):
    return {
        "XERO_BASE_URL": sandbox.url,
        "XERO_CLIENT_ID": xero_app.client_id,
        "XERO_CLIENT_SECRET": xero_app.client_secret,
    }


@pytest.fixture
def app(app, db):
    # The rate limiter counts each call in a short transaction of its own. The tests' one
    # session must not be closed by it, so it gets a session of its own on the tests'
    # connection (its commit releases a SAVEPOINT there).
    app.extensions["xero"].session_factory = lambda: Session(
        bind=db.bind, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return app


@pytest.fixture
def connected(app, db, sandbox, xero_app):
    token = sandbox.sandbox.connect([sandbox.org.tenant_id], client=xero_app).token
    connection = XeroConnection(
        tenant_id=sandbox.org.tenant_id,
        tenant_name=sandbox.org.name,
        status=ConnectionStatus.ACTIVE,
    )
    store_tokens(connection, token, app.extensions["secret_box"], datetime.now(UTC))
    db.add(connection)
    db.add(XeroSettings(tenant_id=sandbox.org.tenant_id, country="GB", base_currency="GBP"))
    db.commit()
    return connection


def add_contact(served, name: str, **fields) -> SandboxContact:
    """A contact made in Xero by someone else (not through the portal)."""
    contact = SandboxContact(
        contact_id=str(uuid.uuid4()), name=name, updated=served.sandbox.clock.now(), **fields
    )
    with served.sandbox.lock:
        served.org.contacts[contact.contact_id] = contact
    return contact


def audit(db, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def reloaded(db, customer: Customer) -> Customer:
    db.expire_all()
    return db.get(Customer, customer.id)


@pytest.fixture
def acme(db, admin_client):
    customer = CustomerFactory(
        name="Acme Studio Ltd",
        email="accounts@acme.example",
        ledger_code="ACME-01",
        address="1 High Street\nLondon",
    )
    db.commit()  # a refused request rolls back only what came after this point
    return customer


# --- who may see it ----------------------------------------------------------------------------


def urls(customer_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/admin/customers/{customer_id}/xero"),
        ("POST", f"/admin/customers/{customer_id}/xero/link"),
        ("GET", f"/admin/customers/{customer_id}/xero/change-id"),
        ("POST", f"/admin/customers/{customer_id}/xero/change-id"),
        ("POST", f"/admin/customers/{customer_id}/xero/export"),
    ]


def send(client, method, url, data=None):
    return client.get(url) if method == "GET" else client.post_form(url, data or {})


def test_anonymous_and_member_are_kept_out(app, client, db, member):
    from tests.conftest import login

    customer = CustomerFactory()
    for method, url in urls(customer.id):
        response = send(client, method, url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    login(client, member.email)
    for method, url in urls(customer.id):
        assert send(client, method, url).status_code == 403, (method, url)
    assert reloaded(db, customer).xero_contact_id is None
    assert not db.scalars(select(SyncJob).where(SyncJob.object_id == customer.id)).all()


def test_unknown_customer_is_404(admin_client):
    for method, url in urls(999_999):
        assert send(admin_client, method, url).status_code == 404, (method, url)


def test_posts_need_the_csrf_token(admin_client, db, acme):
    for method, url in urls(acme.id):
        if method == "POST":
            assert admin_client.post(url, data={"contact_id": str(uuid.uuid4())}).status_code == 400
    assert reloaded(db, acme).xero_contact_id is None


# --- not connected ------------------------------------------------------------------------------


def test_page_says_when_xero_is_not_connected(admin_client, acme):
    response = admin_client.get(f"/admin/customers/{acme.id}/xero?q=Acme")
    assert response.status_code == 200
    page = text(response)
    assert "Xero is not connected" in page
    assert "Acme Studio Ltd" in page and "ACME-01" in page
    assert 'data-testid="lookup-results"' not in page
    assert "Export to Xero" in page


def test_reconnect_needed_is_a_message(admin_client, db, connected, acme):
    connected.status = ConnectionStatus.RECONNECT_NEEDED
    db.commit()
    response = admin_client.get(f"/admin/customers/{acme.id}/xero")
    assert response.status_code == 200
    assert "Xero is not connected" in text(response)


# --- side by side -------------------------------------------------------------------------------


def test_side_by_side_with_the_linked_contact(admin_client, db, sandbox, connected, acme):
    contact = add_contact(
        sandbox,
        "ACME Studio Limited",
        contact_number="ACME-01",
        email_address="ledger@acme.example",
        extra={
            "Addresses": [
                {"AddressType": "POBOX", "AddressLine1": "PO Box 7", "City": "Leeds"},
                {"AddressType": "STREET"},
            ],
            "Balances": {"AccountsReceivable": {"Outstanding": 1234.5, "Overdue": 100.0}},
        },
    )
    acme.xero_contact_id = contact.contact_id
    db.commit()
    response = admin_client.get(f"/admin/customers/{acme.id}/xero")
    assert response.status_code == 200
    page = text(response)
    table = page[page.index('data-testid="side-by-side"') :]
    assert "ACME Studio Limited" in table
    assert "ledger@acme.example" in table and "accounts@acme.example" in table
    assert "PO Box 7" in table and "Leeds" in table
    assert "£1,234.50" in table and "£100.00 overdue" in table
    assert contact.contact_id in table
    assert 'class="differs"' in response.get_data(as_text=True)
    # The ledger code is the contact's: no export offered.
    assert "/xero/export" not in page
    assert "No Xero contact has the ledger code" not in page


def test_linked_contact_whose_code_is_not_in_xero_offers_export(
    admin_client,
    db,
    sandbox,
    connected,
    acme,
):
    contact = add_contact(sandbox, "Acme Studio Ltd", contact_number="OTHER-9")
    acme.xero_contact_id = contact.contact_id
    db.commit()
    page = text(admin_client.get(f"/admin/customers/{acme.id}/xero"))
    assert "No Xero contact has the ledger code ACME-01." in page
    assert "Export to Xero" in page
    assert 'data-testid="xero-balance"><span class="muted">Xero did not report a balance' in (
        admin_client.get(f"/admin/customers/{acme.id}/xero").get_data(as_text=True)
    )


def test_a_linked_id_xero_does_not_know_is_a_message(admin_client, db, connected, acme):
    acme.xero_contact_id = str(uuid.uuid4())
    db.commit()
    response = admin_client.get(f"/admin/customers/{acme.id}/xero")
    assert response.status_code == 200
    assert f"Xero has no contact with the id {acme.xero_contact_id}." in text(response)


def test_xero_errors_are_shown_not_500(admin_client, db, sandbox, connected, acme):
    contact = add_contact(sandbox, "Acme Studio Ltd", contact_number="ACME-01")
    acme.xero_contact_id = contact.contact_id
    db.commit()
    sandbox.sandbox.faults.add("status", 1, status=503, path="*/Contacts*")
    response = admin_client.get(f"/admin/customers/{acme.id}/xero")
    assert response.status_code == 200
    assert "Xero could not be reached: Xero answered 503" in text(response)


def test_markup_in_xero_names_is_escaped(admin_client, db, sandbox, connected, acme):
    contact = add_contact(sandbox, f"Evil {MARKUP} Ltd", email_address="evil@acme.example")
    acme.xero_contact_id = contact.contact_id
    db.commit()
    for url in (f"/admin/customers/{acme.id}/xero", f"/admin/customers/{acme.id}/xero?q=Evil"):
        page = admin_client.get(url).get_data(as_text=True)
        assert MARKUP not in page
        assert "Evil &lt;script&gt;alert(1)&lt;/script&gt; Ltd" in page


# --- look up and link ---------------------------------------------------------------------------


def test_look_up_by_name_email_or_code(admin_client, sandbox, connected, acme):
    wanted = add_contact(
        sandbox, "Acme Studio (old)", contact_number="A-77", email_address="old@acme.example"
    )
    add_contact(sandbox, "Borealis Labs", email_address="hello@borealis.example")
    for term in ("studio (old", "old@acme", "A-77"):
        response = admin_client.get(f"/admin/customers/{acme.id}/xero", query_string={"q": term})
        page = text(response)
        results = page[page.index('data-testid="lookup-results"') :]
        assert wanted.contact_id in results, term
        assert "Borealis" not in results, term
    nothing = text(admin_client.get(f"/admin/customers/{acme.id}/xero?q=zzz"))
    assert "No Xero contact matches “zzz”." in nothing


def test_link_a_contact_found_in_xero(admin_client, db, admin, sandbox, connected, acme):
    contact = add_contact(sandbox, "Acme Studio (old)", contact_number="A-77")
    page = admin_client.get(f"/admin/customers/{acme.id}/xero?q=old").get_data(as_text=True)
    assert f'action="/admin/customers/{acme.id}/xero/link"' in page
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/xero/link", {"contact_id": contact.contact_id.upper()}
    )
    assert response.status_code == 302
    assert reloaded(db, acme).xero_contact_id == contact.contact_id
    [entry] = audit(db, "customer.xero_link")
    assert entry.user_id == admin.id
    assert entry.subject == f"customer {acme.id}"
    assert f"none -> {contact.contact_id}" in entry.detail
    note = db.scalar(
        select(SyncJob).where(SyncJob.kind == JobKind.CONTACT_NOTE, SyncJob.object_id == acme.id)
    )
    assert note is not None and "Linked to portal customer Acme Studio Ltd" in note.payload
    page = text(admin_client.get(f"/admin/customers/{acme.id}/xero"))
    assert "is linked to the Xero contact Acme Studio (old)" in page
    assert "Acme Studio (old)" in page[page.index('data-testid="side-by-side"') :]


def test_link_refuses_a_contact_xero_does_not_have(admin_client, db, connected, acme):
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/xero/link",
        {"contact_id": str(uuid.uuid4())},
        follow_redirects=True,
    )
    assert "Xero has no contact with the id" in text(response)
    assert reloaded(db, acme).xero_contact_id is None
    assert not audit(db, "customer.xero_link")


def test_link_refuses_a_malformed_id(admin_client, db, connected, acme):
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/xero/link",
        {"contact_id": "../Invoices"},
        follow_redirects=True,
    )
    assert "8-4-4-4-12 hexadecimal digits" in text(response)
    assert reloaded(db, acme).xero_contact_id is None


def test_link_refuses_a_contact_of_another_customer(
    admin_client,
    db,
    sandbox,
    connected,
    acme,
):
    contact = add_contact(sandbox, "Shared Ltd")
    CustomerFactory(name="Other Ltd", xero_contact_id=contact.contact_id)
    db.commit()
    page = text(admin_client.get(f"/admin/customers/{acme.id}/xero?q=Shared"))
    assert "Linked to Other Ltd" in page
    assert 'name="contact_id"' not in page
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/xero/link",
        {"contact_id": contact.contact_id},
        follow_redirects=True,
    )
    assert "already linked to Other Ltd" in text(response)
    assert reloaded(db, acme).xero_contact_id is None


def test_link_when_already_linked_asks_for_the_typed_confirmation(
    admin_client,
    db,
    sandbox,
    connected,
    acme,
):
    old = add_contact(sandbox, "Acme Studio Ltd", contact_number="ACME-01")
    new = add_contact(sandbox, "Acme (2019)")
    acme.xero_contact_id = old.contact_id
    db.commit()
    page = admin_client.get(f"/admin/customers/{acme.id}/xero?q=2019").get_data(as_text=True)
    assert "Use this contact instead" in page
    response = admin_client.post_form(
        f"/admin/customers/{acme.id}/xero/link", {"contact_id": new.contact_id}
    )
    assert response.status_code == 302
    assert f"/xero/change-id?contact_id={new.contact_id}" in response.headers["Location"]
    assert reloaded(db, acme).xero_contact_id == old.contact_id
    form = admin_client.get(response.headers["Location"])
    assert f'value="{new.contact_id}"' in form.get_data(as_text=True)


# --- change the id by hand ----------------------------------------------------------------------


@pytest.fixture
def linked(db, acme):
    acme.xero_contact_id = "11111111-2222-3333-4444-555555555555"
    db.commit()
    return acme


def change(client, customer, contact_id, name):
    return client.post_form(
        f"/admin/customers/{customer.id}/xero/change-id",
        {"contact_id": contact_id, "confirm_name": name},
    )


def test_change_page_warns(admin_client, linked):
    response = admin_client.get(f"/admin/customers/{linked.id}/xero/change-id")
    assert response.status_code == 200
    page = text(response)
    assert "Careful." in page and "11111111-2222-3333-4444-555555555555" in page
    assert "Type the customer's name exactly as shown: Acme Studio Ltd" in page


@pytest.mark.parametrize(
    "typed", ["", "acme studio ltd", "Acme Studio Ltd ", " Acme Studio Ltd", "Acme Studio"]
)
def test_change_needs_the_exact_name(admin_client, db, linked, typed):
    new_id = str(uuid.uuid4())
    response = change(admin_client, linked, new_id, typed)
    assert response.status_code == 422
    assert "does not match this customer's name exactly" in text(response)
    assert reloaded(db, linked).xero_contact_id == "11111111-2222-3333-4444-555555555555"
    assert not audit(db, "customer.xero_contact_id_changed")


@pytest.mark.parametrize(
    "bad", ["not-a-guid", "11111111-2222-3333-4444-55555555555", "{" + "a" * 32 + "}", "1 OR 1=1"]
)
def test_change_refuses_a_malformed_id(admin_client, db, linked, bad):
    response = change(admin_client, linked, bad, "Acme Studio Ltd")
    assert response.status_code == 422
    assert "8-4-4-4-12 hexadecimal digits" in text(response)
    assert reloaded(db, linked).xero_contact_id == "11111111-2222-3333-4444-555555555555"
    assert not audit(db, "customer.xero_contact_id_changed")


def test_change_with_the_right_name(admin_client, db, admin, linked):
    new_id = str(uuid.uuid4())
    response = change(admin_client, linked, new_id.upper(), "Acme Studio Ltd")
    assert response.status_code == 302
    assert reloaded(db, linked).xero_contact_id == new_id
    [entry] = audit(db, "customer.xero_contact_id_changed")
    assert entry.user_id == admin.id
    assert "11111111-2222-3333-4444-555555555555" in entry.detail and new_id in entry.detail
    assert entry.detail.index("11111111") < entry.detail.index(new_id)


def test_change_to_blank_unlinks(admin_client, db, linked):
    response = change(admin_client, linked, "", "Acme Studio Ltd")
    assert response.status_code == 302
    assert reloaded(db, linked).xero_contact_id is None
    [entry] = audit(db, "customer.xero_contact_id_changed")
    assert entry.detail.endswith("-> none")


def test_change_refuses_an_id_another_customer_has(admin_client, db, linked):
    taken = str(uuid.uuid4())
    CustomerFactory(name="Other Ltd", xero_contact_id=taken)
    db.commit()
    response = change(admin_client, linked, taken, "Acme Studio Ltd")
    assert response.status_code == 422
    assert "already linked to Other Ltd" in text(response)
    assert reloaded(db, linked).xero_contact_id == "11111111-2222-3333-4444-555555555555"


def test_change_works_without_a_connection(admin_client, db, linked):
    # By hand means by hand: Xero need not be reachable.
    new_id = str(uuid.uuid4())
    assert change(admin_client, linked, new_id, "Acme Studio Ltd").status_code == 302
    assert reloaded(db, linked).xero_contact_id == new_id


# --- export -------------------------------------------------------------------------------------


def test_export_queues_a_contact_job_the_worker_carries_out(
    admin_client,
    app,
    db,
    sandbox,
    connected,
    acme,
):
    page = admin_client.get(f"/admin/customers/{acme.id}/xero").get_data(as_text=True)
    assert 'data-testid="export"' in page
    response = admin_client.post_form(f"/admin/customers/{acme.id}/xero/export")
    assert response.status_code == 302
    job = db.scalar(
        select(SyncJob).where(SyncJob.kind == JobKind.CONTACT, SyncJob.object_id == acme.id)
    )
    assert job is not None and job.status == JobStatus.PENDING
    assert "is queued for Xero" in text(admin_client.get(f"/admin/customers/{acme.id}/xero"))
    assert sandbox.org.contact_by_name("Acme Studio Ltd") is None

    app.extensions["xero"].worker().drain()
    made = sandbox.org.contact_by_name("Acme Studio Ltd")
    assert made is not None and made.contact_number == "ACME-01"
    assert reloaded(db, acme).xero_contact_id == made.contact_id
    page = text(admin_client.get(f"/admin/customers/{acme.id}/xero"))
    assert "No Xero contact has the ledger code" not in page
    assert "Export to Xero" not in page
