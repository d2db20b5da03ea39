"""Paying an invoice by card in the portal (against localstripe), and the admin's payment
settings. The page's JavaScript is played here by posting what Stripe.js would post; the
browser test (tests/e2e/test_pay_by_card.py) runs the real page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import inbox
from billing.cards import checkout as card_checkout
from billing.cards import limits as card_limits
from billing.cards import payment_settings as card_settings
from billing.cards.gateways import GatewayError
from billing.cards.gateways.stripe_gateway import StripeGateway
from billing.cards.model import (
    AttemptStatus,
    CardPaymentAttempt,
    CardSetupRequest,
    PaymentSettings,
)
from billing.db import utcnow
from billing.invoices.model import Payment
from portal.member import pay as pay_views
from tests import localstripe as stripe_stand_in
from tests.conftest import login
from tests.factories import MemberFactory, ServiceFactory, make_invoice
from tests.localstripe import (
    CARD_3DS,
    CARD_DECLINED_ON_CHARGE,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    event_body,
    signature_header,
)
from xero.models import XeroInvoiceLink

localstripe = stripe_stand_in.localstripe
new_intents = stripe_stand_in.new_intents


@pytest.fixture
def app_settings(localstripe):
    return stripe_stand_in.stripe_app_settings(localstripe)


@pytest.fixture
def invoice(db, member):
    # 100.00 + 20.00 tax = 120.00 due
    return make_invoice(db, member.customer, [(ServiceFactory(unit_price=Decimal("100")), "1")])


def pay_by_card(client, invoice, localstripe, card=None, amount=None):
    """What the page's script does: a SetupIntent, Stripe.js confirms the card, then the
    PaymentMethod goes to the portal."""
    amount = amount or f"{invoice.amount_due}"
    setup = client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": amount})
    assert setup.status_code == 200, setup.json
    assert setup.json["client_secret"].startswith("seti_")
    pm = localstripe.card_payment_method(card) if card else localstripe.card_payment_method()
    return client.post_form(
        f"/invoices/{invoice.id}/pay/card", {"amount": amount, "payment_method": pm}
    )


def deliver_succeeded(client, db, localstripe, intent_id):
    intent = localstripe.api("GET", f"/v1/payment_intents/{intent_id}")
    body = event_body("payment_intent.succeeded", intent)
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": signature_header(body), "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    inbox.process_due(lambda: db, client.application.extensions["inbox_handlers"])


def test_pay_page_shows_the_amount_due_and_the_card_form(db, member_client, invoice, localstripe):
    page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "£120.00" in page
    assert 'id="card-element"' in page
    assert f'src="{localstripe.js_url}"' in page
    assert PUBLISHABLE_KEY in page
    assert SECRET_KEY not in page
    invoice_page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert f'href="/invoices/{invoice.id}/pay"' in invoice_page
    assert "Pay £120.00 by card" in invoice_page


def test_a_card_payment_is_processing_until_stripe_confirms_it(
    db, client, member_client, invoice, localstripe, new_intents
):
    response = pay_by_card(member_client, invoice, localstripe)
    assert response.status_code == 200
    assert response.json["status"] == "processing"
    assert response.json["redirect"] == f"/invoices/{invoice.id}"
    [intent] = new_intents(invoice.id)
    assert intent["amount"] == 12000 and intent["currency"] == "gbp"

    # The browser's word records nothing: the invoice waits for Stripe's event.
    assert invoice.status == "awaiting_payment" and invoice.payments == []
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Card payment processing" in page
    assert "Pay £120.00 by card" not in page

    deliver_succeeded(client, db, localstripe, intent["id"])
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Card payment processing" not in page
    assert re.search(r'class="badge paid">Paid<', page)
    assert intent["latest_charge"]["id"] in page  # the charge id is the payment's reference
    assert ">card<" in page


def test_check_now_reads_the_intent_from_stripe(db, member_client, invoice, localstripe):
    assert pay_by_card(member_client, invoice, localstripe).json["status"] == "processing"
    response = member_client.post_form(f"/invoices/{invoice.id}/pay/check", follow_redirects=True)
    assert "your card payment was received" in response.get_data(as_text=True)
    [payment] = db.scalars(select(Payment).where(Payment.invoice_id == invoice.id)).all()
    assert payment.method == "card" and invoice.status == "paid"


def test_a_decline_shows_stripes_message_and_leaves_the_invoice_unchanged(
    db, member_client, invoice, localstripe
):
    response = pay_by_card(member_client, invoice, localstripe, card=CARD_DECLINED_ON_CHARGE)
    assert response.status_code == 200
    assert response.json == {
        "status": "failed",
        "message": "Your card was declined. You can try 4 more times.",
        "client_secret": "",
        "tries_left": 4,
        "redirect": f"/invoices/{invoice.id}",
    }
    assert invoice.status == "awaiting_payment" and invoice.amount_paid == 0
    attempt = db.scalar(
        select(CardPaymentAttempt).where(CardPaymentAttempt.invoice_id == invoice.id)
    )
    assert attempt.status == AttemptStatus.FAILED
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "did not go through: Your card was declined. You can try 4 more times." in page
    assert "Pay £120.00 by card" in page  # another card may be tried
    assert pay_by_card(member_client, invoice, localstripe).json["status"] == "processing"


def test_three_d_secure_is_left_to_stripe_js(db, member_client, invoice, localstripe):
    response = pay_by_card(member_client, invoice, localstripe, card=CARD_3DS)
    assert response.json["status"] == "requires_action"
    assert "_secret_" in response.json["client_secret"]


@pytest.mark.parametrize(
    "amount",
    [
        "120.01",
        "500",
        "0",
        "-1",
        "-0.01",
        "12.345",
        "1.00001",
        "1e3",
        "abc",
        "",
        "99999999999999999999999999",
        "9" * 400,
        "NaN",
        "Infinity",
        "1\x00",
        "\x00",
        "120.00\x00; DROP TABLE invoices",
    ],
)
def test_over_payment_and_nonsense_are_refused_before_stripe_is_called(
    db, member_client, invoice, localstripe, new_intents, amount
):
    setup = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": amount})
    assert setup.status_code in (409, 422) and setup.json["status"] == "error"
    pm = localstripe.card_payment_method()
    charge = member_client.post_form(
        f"/invoices/{invoice.id}/pay/card", {"amount": amount, "payment_method": pm}
    )
    assert charge.status_code in (409, 422) and charge.json["status"] == "error"
    assert new_intents(invoice.id) == []
    assert (
        db.scalar(select(CardPaymentAttempt).where(CardPaymentAttempt.invoice_id == invoice.id))
        is None
    )


def test_over_payment_message(db, member_client, invoice):
    response = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "120.01"})
    assert "more than the 120.00 due" in response.json["message"]


def test_two_tabs_charge_once(db, member_client, invoice, localstripe, new_intents):
    first = pay_by_card(member_client, invoice, localstripe)
    second = pay_by_card(member_client, invoice, localstripe)  # another card, same balance
    assert first.json["status"] == second.json["status"] == "processing"
    assert len(new_intents(invoice.id)) == 1
    assert len(db.scalars(select(CardPaymentAttempt)).all()) == 1


def test_a_paid_invoice_cannot_be_paid_again(
    db, client, member_client, invoice, localstripe, new_intents
):
    assert pay_by_card(member_client, invoice, localstripe).json["status"] == "processing"
    [intent] = new_intents(invoice.id)
    deliver_succeeded(client, db, localstripe, intent["id"])
    assert invoice.status == "paid"
    again = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "120.00"})
    assert again.status_code == 409
    page = member_client.get(f"/invoices/{invoice.id}/pay")
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/invoices/{invoice.id}")


def test_another_companys_invoice_does_not_exist(db, client, invoice, localstripe):
    other = MemberFactory()
    assert login(client, other.email).status_code == 302
    pm = localstripe.card_payment_method()
    assert client.get(f"/invoices/{invoice.id}/pay").status_code == 404
    for path, data in (
        ("setup", {"amount": "120.00"}),
        ("card", {"amount": "120.00", "payment_method": pm}),
        ("check", {}),
    ):
        assert client.post_form(f"/invoices/{invoice.id}/pay/{path}", data).status_code == 404
    assert db.scalar(select(CardPaymentAttempt)) is None


@pytest.mark.parametrize("invoice_id", [2**31, 2**63 - 1, 2**63, 2**64 + 5, 10**40])
def test_ids_past_the_database_range_are_not_found(db, member_client, invoice_id):
    assert member_client.get(f"/invoices/{invoice_id}/pay").status_code == 404
    for path, data in (
        ("setup", {"amount": "1.00"}),
        ("card", {"amount": "1.00", "payment_method": "pm_123"}),
        ("check", {}),
    ):
        response = member_client.post_form(f"/invoices/{invoice_id}/pay/{path}", data)
        assert response.status_code == 404
    assert db.scalar(select(CardPaymentAttempt)) is None


def test_drafts_cannot_be_paid(db, member, member_client):
    draft = make_invoice(db, member.customer, issue=False)
    assert member_client.get(f"/invoices/{draft.id}/pay").status_code == 404


def test_pay_posts_need_the_csrf_token(db, member_client, invoice, localstripe):
    pm = localstripe.card_payment_method()
    for path, data in (
        ("setup", {"amount": "120.00"}),
        ("card", {"amount": "120.00", "payment_method": pm}),
        ("check", {}),
    ):
        assert (
            member_client.post(f"/invoices/{invoice.id}/pay/{path}", data=data).status_code == 400
        )
    assert db.scalar(select(CardPaymentAttempt)) is None


def test_a_payment_method_that_is_not_one_is_refused(db, member_client, invoice):
    for pm in ("", "tok_visa", "pm_<script>", "pm_" + "x" * 300, "pm_abc\x00", "\x00"):
        response = member_client.post_form(
            f"/invoices/{invoice.id}/pay/card", {"amount": "120.00", "payment_method": pm}
        )
        assert response.status_code == 400
    assert db.scalar(select(CardPaymentAttempt)) is None


def test_another_amount_in_another_tab_waits_while_one_is_processing(
    db, member_client, invoice, localstripe, new_intents
):
    assert pay_by_card(member_client, invoice, localstripe).json["status"] == "processing"
    # A tab opened before: its form still says 120.00; the member edits nothing but posts 50.
    setup = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "50.00"})
    assert setup.status_code == 409
    assert "120.00 GBP for this invoice is being processed" in setup.json["message"]
    pm = localstripe.card_payment_method()
    charge = member_client.post_form(
        f"/invoices/{invoice.id}/pay/card", {"amount": "50.00", "payment_method": pm}
    )
    assert charge.status_code == 409 and "being processed" in charge.json["message"]
    assert len(new_intents(invoice.id)) == 1
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "Card payment processing" in pay_page and "card-element" not in pay_page


def test_a_3d_secure_payment_left_open_is_cancelled_for_another_amount(
    db, member_client, invoice, localstripe, new_intents
):
    """Found on main: 3-D Secure pending in one tab, another amount in a second, both charged."""
    first = pay_by_card(member_client, invoice, localstripe, card=CARD_3DS)
    assert first.json["status"] == "requires_action"
    page = " ".join(member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True).split())
    assert "waiting for your bank's check (3-D Secure)" in page
    assert "Pay £120.00 by card" in page  # it can be finished, or replaced

    second = pay_by_card(member_client, invoice, localstripe, amount="50.00")
    assert second.json["status"] == "processing"
    # Tab one's member finishes 3-D Secure now: too late, the intent was cancelled.
    [waiting] = [pi for pi in new_intents(invoice.id) if pi["amount"] == 12000]
    assert waiting["status"] == "canceled"
    assert [pi["amount"] for pi in new_intents(invoice.id) if pi["status"] == "succeeded"] == [5000]
    statuses = db.scalars(select(CardPaymentAttempt.status).order_by(CardPaymentAttempt.id))
    assert list(statuses) == [AttemptStatus.CANCELED, AttemptStatus.PROCESSING]


class LostConfirmation(StripeGateway):
    """Stripe confirms the charge, but its answer never reaches the portal."""

    def confirm_payment_intent(self, payment_intent_id, *, idempotency_key):
        super().confirm_payment_intent(payment_intent_id, idempotency_key=idempotency_key)
        raise GatewayError("Stripe: Request timed out")


def test_an_unanswered_charge_is_checked_before_the_member_can_pay_again(
    db, member_client, invoice, localstripe, new_intents, monkeypatch
):
    lossy = LostConfirmation(SECRET_KEY, api_base=localstripe.url)
    monkeypatch.setattr(pay_views, "stripe_gateway", lambda _db: lossy)
    first = pay_by_card(member_client, invoice, localstripe)
    assert first.status_code == 200 and first.json["status"] == "unknown"
    assert "do not know yet whether your card was charged" in first.json["message"]
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Checking your card payment." in page and "Pay £120.00 by card" not in page
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "card-element" not in pay_page

    # Another tab (opened before) posts anyway: Stripe is asked, nothing is charged again.
    again = pay_by_card(member_client, invoice, localstripe)
    assert again.json["status"] == "processing"
    assert len(new_intents(invoice.id)) == 1
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Card payment processing" in page


def test_the_pages_count_the_tries_left_and_stop_at_the_limit(
    db, member, member_client, invoice, localstripe, new_intents
):
    for n in range(card_limits.MAX_DECLINES_PER_INVOICE - 1):
        claim = card_checkout.claim_attempt(db, invoice, Decimal(f"1.0{n}"), member.id)
        claim.attempt.status = AttemptStatus.FAILED
        claim.attempt.failure_message = "Your card was declined."
    db.commit()
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "You can try 1 more time." in pay_page and "card-element" in pay_page

    last = pay_by_card(member_client, invoice, localstripe, card=CARD_DECLINED_ON_CHARGE)
    assert last.json["status"] == "failed" and last.json["tries_left"] == 0
    assert "No more card payments can be tried for now." in last.json["message"]
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "declined too many times. Please contact us to pay it." in page
    assert "by card" not in page
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "card-element" not in pay_page and "declined too many times" in pay_page

    setup = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "2.00"})
    assert setup.status_code == 429 and "too many times" in setup.json["message"]
    charge = member_client.post_form(
        f"/invoices/{invoice.id}/pay/card",
        {"amount": "2.00", "payment_method": localstripe.card_payment_method()},
    )
    assert charge.status_code == 429
    assert [pi["status"] for pi in new_intents(invoice.id)] == ["requires_payment_method"]


def test_card_forms_are_counted_per_member_in_the_database(
    db, member, member_client, invoice, localstripe
):
    now = utcnow()
    for n in range(card_limits.MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR - 1):
        db.add(CardSetupRequest(user_id=member.id, at=now - timedelta(minutes=n)))
    db.commit()
    ok = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "120.00"})
    assert ok.status_code == 200
    refused = member_client.post_form(f"/invoices/{invoice.id}/pay/setup", {"amount": "120.00"})
    assert refused.status_code == 429
    assert "card form was opened too many times" in refused.json["message"]
    assert db.scalar(select(func.count()).where(CardSetupRequest.user_id == member.id)) == 20


# --- Which methods members see ----------------------------------------------------------


def settings(db, **values) -> PaymentSettings:
    row = card_settings.payment_settings(db)
    for name, value in values.items():
        setattr(row, name, value)
    db.add(row)
    db.commit()
    return row


def test_members_see_only_the_methods_enabled(db, member_client, invoice, localstripe):
    db.add(XeroInvoiceLink(invoice_id=invoice.id, online_invoice_url="https://in.xero.com/abc"))
    db.commit()
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Pay £120.00 by card" in page and "https://in.xero.com/abc" in page

    settings(db, offer_card=False)
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "by card" not in page and "https://in.xero.com/abc" in page
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert "card-element" not in pay_page and "https://in.xero.com/abc" in pay_page
    refused = member_client.post_form(
        f"/invoices/{invoice.id}/pay/card",
        {"amount": "120.00", "payment_method": localstripe.card_payment_method()},
    )
    assert refused.status_code == 409

    settings(db, offer_card=True, offer_xero_online=False)
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "by card" in page and "in.xero.com" not in page

    settings(db, offer_card=False)
    pay_page = member_client.get(f"/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert 'data-testid="no-payment-methods"' in pay_page


def test_xero_option_waits_for_the_online_link(db, member_client, invoice):
    settings(db, offer_card=False)
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "via Xero" not in page and "on its way" not in page
    settings(db, xero_only_with_link=False)
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "on its way" in page


@pytest.mark.parametrize("app_settings", [{"STRIPE_SECRET_KEY": ""}])
def test_no_card_option_without_keys(db, member_client, invoice):
    page = member_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "by card" not in page


# --- Admin settings ---------------------------------------------------------------------

SETTINGS_URL = "/admin/settings/payments"
NEW_SECRET = "sk_test_newsecretkey0123456789WXYZ"
NEW_WEBHOOK = "whsec_newwebhooksecret0123456789QRST"


def save(admin_client, **overrides):
    data = {
        "offer_card": "y",
        "offer_xero_online": "y",
        "xero_only_with_link": "y",
        "stripe_publishable_key": "pk_test_fromthepage",
        "stripe_secret_key": NEW_SECRET,
        "stripe_webhook_secret": NEW_WEBHOOK,
        **overrides,
    }
    return admin_client.post_form(SETTINGS_URL, {k: v for k, v in data.items() if v is not None})


def test_settings_page_saves_and_encrypts_the_secrets(db, app, admin_client):
    page = admin_client.get(SETTINGS_URL)
    assert page.status_code == 200
    assert "/webhooks/stripe" in page.get_data(as_text=True)

    response = save(admin_client)
    assert response.status_code == 302
    row = db.scalars(select(PaymentSettings)).one()
    assert row.stripe_publishable_key == "pk_test_fromthepage"
    assert row.stripe_secret_key_encrypted and row.stripe_secret_key_encrypted != NEW_SECRET
    assert NEW_SECRET not in row.stripe_secret_key_encrypted
    assert row.stripe_webhook_secret_encrypted != NEW_WEBHOOK
    box = app.extensions["secret_box"]
    assert box.decrypt(row.stripe_secret_key_encrypted) == NEW_SECRET
    assert box.decrypt(row.stripe_webhook_secret_encrypted) == NEW_WEBHOOK

    page = admin_client.get(SETTINGS_URL).get_data(as_text=True)
    assert NEW_SECRET not in page and NEW_WEBHOOK not in page
    assert NEW_SECRET[:-4] not in page
    assert "ending …WXYZ" in page and "ending …QRST" in page
    assert 'value="pk_test_fromthepage"' in page


def test_blank_secrets_keep_the_saved_ones(db, app, admin_client):
    save(admin_client)
    assert save(admin_client, stripe_secret_key="", stripe_webhook_secret="").status_code == 302
    row = db.scalars(select(PaymentSettings)).one()
    assert app.extensions["secret_box"].decrypt(row.stripe_secret_key_encrypted) == NEW_SECRET
    save(admin_client, stripe_secret_key="", clear_secret_key="y")
    assert row.stripe_secret_key_encrypted == ""


def test_switching_methods_off_is_saved(db, admin_client):
    save(admin_client, offer_card=None, offer_xero_online=None, xero_only_with_link=None)
    row = db.scalars(select(PaymentSettings)).one()
    assert (row.offer_card, row.offer_xero_online, row.xero_only_with_link) == (False, False, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stripe_secret_key", "pk_test_wrongkind"),
        ("stripe_webhook_secret", "sk_test_wrongkind"),
        ("stripe_publishable_key", "sk_test_wrongkind"),
    ],
)
def test_keys_of_the_wrong_kind_are_refused(db, admin_client, field, value):
    response = save(admin_client, **{field: value})
    assert response.status_code == 422
    assert value not in response.get_data(as_text=True) or field == "stripe_publishable_key"
    assert db.scalar(select(PaymentSettings)) is None


def test_settings_need_csrf_and_an_admin(db, admin_client, member):
    assert admin_client.post(SETTINGS_URL, data={"offer_card": "y"}).status_code == 400
    assert db.scalar(select(PaymentSettings)) is None
    admin_client.post_form("/logout")
    login(admin_client, member.email)
    assert admin_client.get(SETTINGS_URL).status_code in (302, 403)
