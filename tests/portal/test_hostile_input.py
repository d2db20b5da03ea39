"""NUL and other control characters: refused with a field error in every field of every
form, a 400 in any query string, and never a 500 (PostgreSQL refuses a NUL in text with
an error; SQLite stored it).

The forms are discovered, not listed: every ``FlaskForm`` subclass defined in ``portal.*``.
Each must derive from ``PortalForm`` and have an entry in ``POSTS`` below (how a request
posts it), so a new form without one fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import Field, FieldList, FormField

import portal
from billing.db import Base
from portal.forms import UNSTORABLE_FORM_MESSAGE, UNSTORABLE_MESSAGE, PortalForm, unstorable
from tests import factories
from tests.conftest import login
from tests.portal.test_auth import enrol_totp

NUL = "a\x00b"
#: One of each kind the rule refuses in any field.
HOSTILE = ["\x00", "x\x00", "\x01", "\x08", "\x1b[31m", "\x7f", "\x85", "\x9f", "\u2028"]
MESSAGE = "contains a character that cannot be stored"


def portal_forms() -> list[type[FlaskForm]]:
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        importlib.import_module(module.name)
    found: list[type[FlaskForm]] = []
    todo = list(FlaskForm.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # Classes made per request inside a view (xero_settings' form with a field per tax
        # rate) are covered through the class they derive from.
        if (
            cls.__module__.startswith("portal.")
            and "<locals>" not in cls.__qualname__
            and cls is not PortalForm
        ):
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def flat_fields(fields) -> Iterator[Field]:
    for field in fields:
        if isinstance(field, FormField):
            yield from flat_fields(field.form)
        elif isinstance(field, FieldList):
            yield from flat_fields(field.entries)
        elif field.name != "csrf_token":
            yield field


def field_names(app, form_class: type[FlaskForm]) -> list[str]:
    with app.test_request_context("/", method="POST"):
        return [field.name for field in flat_fields(form_class())]


# --- how each form is posted ------------------------------------------------------------


@dataclass
class Post:
    """A request that posts the form with valid data; ``setup`` makes what it needs and
    returns (url, data). ``role`` is who posts it."""

    setup: Callable[..., tuple[str, dict[str, str]]]
    role: str = "admin"
    #: False when the view answers a bad post with a bare 400 page (no field to show it).
    shows_field_error: bool = True
    #: ``setup`` also takes the app and the role's client (``app=``, ``client=``).
    needs_client: bool = False
    #: The prefix the view gives the form (``prefix-field`` in the posted data).
    prefix: str = ""


@dataclass
class FormLevelOnly:
    """Posted only in a state these tests cannot make cheaply: checked at the form level
    (test_every_field_of_every_form_refuses_control_characters), with the reason why."""

    reason: str


def _service(db, admin):
    rate = factories.TaxRateFactory()
    return "/admin/services/new", {
        "code": "NEW",
        "name": "New service",
        "description": "Desk by the window",
        "unit_price": "10",
        "currency": "GBP",
        "sales_account_code": "200",
        "tax_rate_id": str(rate.id),
    }


def _customer(db, admin):
    return "/admin/customers/new", {
        "name": "Zed Ltd",
        "contact_name": "Zed",
        "email": "zed@example.com",
        "phone": "+44 20 7946 0000",
        "address": "1 Road\nTown",
        "ledger_code": "ZED",
        "payment_terms_days": "30",
    }


def _member(db, admin):
    customer = factories.CustomerFactory()
    return f"/admin/customers/{customer.id}/members", {
        "name": "New Member",
        "email": "new.member@example.com",
        "password": "a long enough password",
    }


def _membership(db, admin):
    from datetime import date

    customer = factories.CustomerFactory()
    plan = factories.ServiceFactory(tax_rate=factories.TaxRateFactory(), cycle="monthly")
    return f"/admin/customers/{customer.id}/memberships", {
        "service_id": str(plan.id),
        "starts_on": date.today().isoformat(),
        "ends_on": "",
        "quantity": "1",
        "price": "250",
        "discount_percent": "10",
        "note": "Desk 4",
    }


def _invoice(db, admin):
    customer = factories.CustomerFactory()
    service = factories.ServiceFactory(tax_rate=factories.TaxRateFactory())
    return "/admin/invoices/new", {
        "customer_id": str(customer.id),
        "currency": "GBP",
        "line_amount_type": "Exclusive",
        "issue_date": date(2026, 1, 5).isoformat(),
        "due_date": "",
        "expected_payment_date": "",
        "reference": "PO 1",
        "lines-0-service_id": str(service.id),
        "lines-0-description": "Desk",
        "lines-0-quantity": "1",
        "lines-0-unit_price": "5",
    }


def _issued_invoice(db):
    customer = factories.CustomerFactory()
    service = factories.ServiceFactory(tax_rate=factories.TaxRateFactory())
    return factories.make_invoice(db, customer, [(service, "1")])


def _issued_edit(db, admin):
    invoice = _issued_invoice(db)
    return f"/admin/invoices/{invoice.id}/edit", {
        "reference": "PO 2",
        "due_date": date(2026, 3, 1).isoformat(),
        "expected_payment_date": "",
    }


def _line_account(db, admin):
    invoice = _issued_invoice(db)
    return f"/admin/invoices/{invoice.id}/accounts", {
        "line_id": str(invoice.lines[0].id),
        "account_code": "201",
    }


def _tax_rate(db, admin):
    return "/admin/tax-rates", {"name": "Reduced", "rate_percent": "5"}


def _payment_settings(db, admin):
    return "/admin/settings/payments", {
        "offer_card": "y",
        "offer_xero_online": "y",
        "xero_only_with_link": "y",
        "stripe_publishable_key": "pk_test_abc",
        "stripe_secret_key": "sk_test_abc",
        "clear_secret_key": "",
        "stripe_webhook_secret": "whsec_abc",
        "clear_webhook_secret": "",
    }


def _change_contact_id(db, admin):
    customer = factories.CustomerFactory()
    return f"/admin/customers/{customer.id}/xero/change-id", {
        "contact_id": "",
        "confirm_name": customer.name,
    }


def _link_contact(db, admin):
    customer = factories.CustomerFactory()
    return f"/admin/customers/{customer.id}/xero/link", {
        "contact_id": "00000000-0000-0000-0000-000000000001",
    }


def _pending_charge(db, admin):
    from datetime import date

    room = factories.ServiceFactory(tax_rate=factories.TaxRateFactory())
    customer = factories.CustomerFactory()
    db.commit()
    return f"/admin/customers/{customer.id}/charges", {
        "charge-service_id": str(room.id),
        "charge-charged_on": date.today().isoformat(),
        "charge-quantity": "2",
        "charge-unit_price": "12.50",
        "charge-description": "Board meeting",
    }


def _membership_end(db, admin):
    from datetime import date

    from billing.recurring.model import Membership
    from billing.recurring.periods import Cycle

    plan = factories.ServiceFactory(tax_rate=factories.TaxRateFactory(), cycle=Cycle.MONTHLY)
    membership = Membership(
        customer=factories.CustomerFactory(), service=plan, starts_on=date.today()
    )
    db.add(membership)
    db.commit()
    return f"/admin/customers/{membership.customer_id}/memberships/{membership.id}/end", {
        "last_day": date.today().isoformat(),
        "reason": "Closing down",
    }


def _billing_run(db, admin):
    from datetime import date

    from billing.recurring.model import Membership
    from billing.recurring.periods import Cycle

    plan = factories.ServiceFactory(tax_rate=factories.TaxRateFactory(), cycle=Cycle.MONTHLY)
    customer = factories.CustomerFactory()
    db.add(Membership(customer=customer, service=plan, starts_on=date.today().replace(day=1)))
    db.commit()
    return "/admin/billing-run", {"billing_date": date.today().isoformat()}


def _login(db, admin):
    return "/login", {"email": admin.email, "password": factories.PASSWORD}


def _totp(db, admin, *, app, client):
    enrol_totp(app, db, admin)
    db.commit()
    assert login(client, admin.email).status_code == 302
    return "/login/2fa", {"code": "123456"}


def _enrolment(db, admin, *, app, client):
    assert client.post_form("/account/2fa/start").status_code == 302
    return "/account/2fa", {"code": "123456"}


def _own_password(db, admin):
    return "/account/password", {
        "current": factories.PASSWORD,
        "new": "a new password here",
        "confirm": "a new password here",
    }


def _invitation(db, admin, *, app, client):
    from portal import invitations

    member = factories.MemberFactory()
    db.commit()
    with app.test_request_context():
        link = invitations.link_for(member)
    return link.split("localhost", 1)[1], {
        "new": "a new password here",
        "confirm": "a new password here",
    }


POSTS: dict[str, Post | FormLevelOnly] = {
    "portal.admin.forms.ServiceForm": Post(_service),
    "portal.admin.forms.CustomerForm": Post(_customer),
    "portal.admin.forms.MemberForm": Post(_member),
    "portal.admin.forms.MembershipForm": Post(_membership),
    "portal.admin.forms.BillingRunForm": Post(_billing_run),
    "portal.admin.forms.PendingChargeForm": Post(_pending_charge, prefix="charge-"),
    "portal.admin.forms.EndMembershipForm": Post(_membership_end),
    "portal.admin.forms.InvoiceForm": Post(_invoice),
    "portal.admin.forms.IssuedInvoiceForm": Post(_issued_edit),
    "portal.admin.forms.TaxRateForm": Post(_tax_rate),
    "portal.admin.forms.ConfirmForm": FormLevelOnly("no field but the CSRF token"),
    "portal.admin.invoice_accounts.LineAccountForm": Post(_line_account),
    "portal.admin.payment_settings.PaymentSettingsForm": Post(_payment_settings),
    "portal.admin.xero_customers.ChangeContactIdForm": Post(_change_contact_id),
    "portal.admin.xero_customers.LinkForm": Post(_link_contact, shows_field_error=False),
    "portal.admin.trial_run.TrialForm": FormLevelOnly("the trial run needs Stripe and Xero"),
    "portal.admin.xero_settings.XeroSettingsForm": FormLevelOnly("needs a live Xero connection"),
    "portal.admin.xero_connection.TenantForm": FormLevelOnly("needs a pending Xero consent"),
    "portal.auth.forms.LoginForm": Post(_login, role="anonymous"),
    "portal.auth.forms.SecondFactorForm": Post(_totp, role="pending-2fa", needs_client=True),
    "portal.auth.forms.TotpForm": Post(_enrolment, needs_client=True),
    "portal.auth.forms.ChangePasswordForm": Post(_own_password, role="member"),
    "portal.auth.forms.SetPasswordForm": Post(_invitation, role="anonymous", needs_client=True),
    "portal.auth.forms.StartTotpForm": FormLevelOnly("no field but the CSRF token"),
    # Turning 2FA off and new recovery codes answer with a redirect and the field's
    # message as a flash (the page they return to holds both forms).
    "portal.auth.forms.PasswordConfirmForm": FormLevelOnly("its views answer with a redirect"),
}


def form_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_forms_are_discovered():
    keys = {form_key(cls) for cls in portal_forms()}
    assert {"portal.admin.forms.InvoiceForm", "portal.auth.forms.LoginForm"} <= keys
    assert len(keys) >= 15


@pytest.mark.parametrize("form_class", portal_forms(), ids=form_key)
def test_every_form_derives_from_the_portal_form_and_has_a_post_entry(form_class):
    assert issubclass(form_class, PortalForm), (
        f"{form_key(form_class)}: derive it from portal.forms.PortalForm"
    )
    assert form_key(form_class) in POSTS, f"{form_key(form_class)}: add it to POSTS"


def test_posts_table_names_only_forms_that_exist():
    assert set(POSTS) <= {form_key(cls) for cls in portal_forms()}


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", HOSTILE)
def test_control_characters_are_unstorable(bad):
    assert unstorable(f"text{bad}", multiline=False)
    assert unstorable(f"text{bad}", multiline=True)


@pytest.mark.parametrize("ok", ["plain", "Café Zoë", "日本", "a – b", "€5", "emoji 🙂"])
def test_ordinary_text_is_storable(ok):
    assert not unstorable(ok)


def test_tab_and_line_breaks_are_text_only_in_multi_line_fields():
    for ok in ("a\tb", "a\nb", "a\r\nb"):
        assert not unstorable(ok, multiline=True)
        assert unstorable(ok, multiline=False)


# --- every field of every form, at the form level -------------------------------------------


def _form_fields(app) -> list[tuple[type[FlaskForm], str]]:
    return [(cls, name) for cls in portal_forms() for name in field_names(app, cls)]


def test_every_field_of_every_form_refuses_control_characters(app):
    checked = 0
    for form_class, name in _form_fields(app):
        for bad in (NUL, "x\x1by", "x\x85y"):
            with app.test_request_context("/", method="POST", data=MultiDict({name: bad})):
                form = form_class()
                assert not form.validate(), (form_key(form_class), name)
                field = next(f for f in flat_fields(form) if f.name == name)
                assert field.errors == [UNSTORABLE_MESSAGE], (form_key(form_class), name)
        checked += 1
    assert checked > 40


def test_a_refused_form_runs_none_of_its_other_validators(app, monkeypatch):
    """Validators may query the database; none may see the value."""
    from portal.admin.forms import CustomerForm

    seen = []
    monkeypatch.setattr(
        CustomerForm, "validate_name", lambda form, field: seen.append(field.data), raising=False
    )
    with app.test_request_context("/", method="POST", data={"name": NUL, "email": "bad"}):
        form = CustomerForm()
        assert not form.validate()
        assert form.errors == {"name": [UNSTORABLE_MESSAGE], "": [UNSTORABLE_FORM_MESSAGE]}
    assert seen == []


def test_line_errors_reach_the_form_errors(app):
    from portal.admin.forms import InvoiceForm

    with app.test_request_context("/", method="POST", data={"lines-0-description": NUL}):
        form = InvoiceForm()
        assert not form.validate()
        assert form.errors["lines"] == [{"description": [UNSTORABLE_MESSAGE]}]


# --- every field of every posted form, through its route --------------------------------------


def dump(db) -> dict[str, list[tuple]]:
    """Every row of every table: a refused post must leave all of them as they were."""
    db.expire_all()
    return {
        table.name: sorted(map(tuple, db.execute(select(table)).all()), key=repr)
        for table in Base.metadata.sorted_tables
    }


def _client_for(role, app, db, admin, member):
    client = app.test_client()
    if role == "admin":
        assert login(client, admin.email).status_code == 302
    elif role == "member":
        assert login(client, member.email).status_code == 302
    return client


def _route_cases(app) -> list[tuple[str, str]]:
    return [
        (form_key(cls), name)
        for cls in portal_forms()
        if isinstance(POSTS.get(form_key(cls)), Post)
        for name in field_names(app, cls)
    ]


def pytest_generate_tests(metafunc):
    if "route_case" in metafunc.fixturenames:
        from tests.conftest import make_test_app

        app = make_test_app("sqlite://")
        cases = _route_cases(app)
        metafunc.parametrize(
            "route_case", cases, ids=[f"{k.rsplit('.', 1)[1]}-{n}" for k, n in cases]
        )


def _prepare(key, app, db, admin, member):
    post = POSTS[key]
    assert isinstance(post, Post)
    client = _client_for(post.role, app, db, admin, member)
    if post.needs_client:
        url, data = post.setup(db, admin, app=app, client=client)
    else:
        url, data = post.setup(db, admin)
    db.commit()  # what a refused request rolls back is only what came after this
    return post, client, url, data


def test_every_text_field_with_a_nul_is_refused_and_nothing_is_stored(
    route_case, app, db, admin, member
):
    key, name = route_case
    post, client, url, data = _prepare(key, app, db, admin, member)
    before = dump(db)
    response = client.post_form(url, {**data, post.prefix + name: NUL})
    assert 400 <= response.status_code < 500, (url, name, response.status_code)
    if post.shows_field_error:
        assert MESSAGE in response.get_data(as_text=True), (url, name)
    assert dump(db) == before, (url, name)


@pytest.mark.parametrize(
    "key",
    [
        "portal.admin.forms.ServiceForm",
        "portal.admin.forms.CustomerForm",
        "portal.admin.forms.MemberForm",
        "portal.admin.forms.MembershipForm",
        "portal.admin.forms.BillingRunForm",
        "portal.admin.forms.PendingChargeForm",
        "portal.admin.forms.EndMembershipForm",
        "portal.admin.forms.InvoiceForm",
        "portal.admin.forms.TaxRateForm",
        "portal.auth.forms.LoginForm",
    ],
)
def test_the_same_post_without_the_nul_is_accepted(key, app, db, admin, member):
    """The data the test above starts from is valid: the NUL alone is what is refused."""
    _post, client, url, data = _prepare(key, app, db, admin, member)
    before = dump(db)
    response = client.post_form(url, data)
    assert response.status_code == 302, (url, response.get_data(as_text=True)[:2000])
    if key != "portal.auth.forms.LoginForm":
        assert dump(db) != before


def test_login_with_a_nul_in_the_email_needs_no_account_and_counts_nothing(client, db):
    before = dump(db)
    response = client.post_form("/login", {"email": "x\x00@example.com", "password": "pw"})
    assert response.status_code == 422
    assert MESSAGE in response.get_data(as_text=True)
    assert dump(db) == before


# --- query strings ------------------------------------------------------------------------------


def _get_routes(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )


def test_there_are_pages_to_search(app):
    assert {"/admin/invoices", "/admin/customers", "/admin/services"} <= set(_get_routes(app))


@pytest.mark.parametrize("role", ["anonymous", "member", "admin"])
@pytest.mark.parametrize("query", ["q=a%00b", "q=%1b", "status=%00", "customer_id=1%00", "%00=1"])
def test_a_control_character_in_any_query_string_is_a_400(app, db, admin, member, role, query):
    client = _client_for(role, app, db, admin, member)
    for url in _get_routes(app):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, (url, response.status_code)
        assert "cannot be used" in response.get_data(as_text=True)


def test_an_ordinary_search_still_works(admin_client, db):
    factories.CustomerFactory(name="Café Zoë Ltd")
    db.commit()
    response = admin_client.get("/admin/customers?q=Caf%C3%A9")
    assert response.status_code == 200
    assert "Café Zoë Ltd" in response.get_data(as_text=True)


# --- the 500 page cannot fail in its turn -----------------------------------------------------

SERVER_ERROR = "Something went wrong on our side"


@pytest.fixture
def failing_app(app, engine):
    """The app with pages that fail: after a write, or with the database gone bad."""
    from sqlalchemy import event, text

    from billing.login_throttle import LoginFailure
    from portal.db import get_db

    app.config["PROPAGATE_EXCEPTIONS"] = False
    broken = {"on": False}

    def refuse_statements(conn, cursor, statement, *args):
        # Everything but the transaction's own rollback fails, as on a dropped connection
        # or (PostgreSQL) inside a transaction an error has aborted.
        if broken["on"] and not statement.lstrip().upper().startswith(("ROLLBACK", "RELEASE")):
            raise RuntimeError("the database is gone")

    event.listen(engine, "before_cursor_execute", refuse_statements)

    @app.get("/boom/after-write")
    def after_write():
        get_db().add(LoginFailure(email="boom@example.com", address="boom"))
        get_db().flush()
        raise RuntimeError("boom")

    @app.get("/boom/bad-sql")
    def bad_sql():
        get_db().execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    @app.get("/boom/database-gone")
    def database_gone():
        broken["on"] = True
        raise RuntimeError("boom")

    yield app
    broken["on"] = False
    event.remove(engine, "before_cursor_execute", refuse_statements)


def _signed_in(app, db, role: str):
    client = app.test_client()
    user = factories.AdminFactory() if role == "admin" else factories.MemberFactory()
    db.commit()
    assert login(client, user.email).status_code == 302
    return client


def test_the_500_page_rolls_the_request_back(failing_app, db):
    from billing.login_throttle import LoginFailure

    response = failing_app.test_client().get("/boom/after-write")
    assert response.status_code == 500
    assert SERVER_ERROR in response.get_data(as_text=True)
    assert db.scalars(select(LoginFailure).where(LoginFailure.address == "boom")).all() == []


@pytest.mark.parametrize("role", ["admin", "member"])
@pytest.mark.parametrize("path", ["/boom/bad-sql", "/boom/database-gone"])
def test_the_500_page_needs_no_database(failing_app, db, role, path):
    """base.html reads the signed-in user and the nav counts from the database: a 500 page
    built on it failed again inside the handler (a NUL on PostgreSQL did exactly that)."""
    client = _signed_in(failing_app, db, role)
    response = client.get(path)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert SERVER_ERROR in page
    assert "Internal Server Error" not in page  # Werkzeug's own page: the handler failed


def test_the_500_page_falls_back_to_plain_text_when_rendering_fails(failing_app, db, monkeypatch):
    def no_templates(*args, **kwargs):
        raise RuntimeError("templates are broken")

    monkeypatch.setattr(failing_app.jinja_env, "get_template", no_templates)
    monkeypatch.setattr(failing_app.jinja_env, "get_or_select_template", no_templates)
    response = failing_app.test_client().get("/boom/after-write")
    assert response.status_code == 500
    assert response.mimetype == "text/plain"
    assert SERVER_ERROR in response.get_data(as_text=True)


def test_a_page_whose_template_raises_gets_the_500_page(app, admin_client, monkeypatch):
    """An exception inside the rendering of an ordinary page (here the admin's nav count)."""
    import portal.admin.needs_attention as needs_attention

    def broken_count(*args, **kwargs):
        raise RuntimeError("the nav count failed")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    monkeypatch.setitem(app.jinja_env.globals, "overpayments_needing_attention", broken_count)
    assert needs_attention  # the global it replaces is registered by that module
    response = admin_client.get("/admin/customers")
    assert response.status_code == 500
    assert SERVER_ERROR in response.get_data(as_text=True)
