from billing.inbox import InboundEvent


def test_failed_events_are_listed_and_can_be_retried(db, admin_client):
    failed = InboundEvent(
        provider="xero",
        event_id="e1",
        event_type="INVOICE.UPDATE",
        payload="{}",
        status="failed",
        attempts=8,
        last_error="Overpayment: more than the 10.00 due",
    )
    done = InboundEvent(
        provider="stripe",
        event_id="e2",
        event_type="payment_intent.succeeded",
        payload="{}",
        status="done",
    )
    db.add_all([failed, done])
    db.commit()
    page = admin_client.get("/admin/webhook-events").get_data(as_text=True)
    assert page.count('data-testid="inbound-event"') == 1
    # The event ids as the page shows them: a bare "e2" also turns up by chance in the
    # page's random CSRF token or CSP nonce.
    assert "Overpayment" in page and '<div class="muted">e1</div>' in page
    assert '<div class="muted">e2</div>' not in page

    assert admin_client.post_form(f"/admin/webhook-events/{failed.id}/retry").status_code == 302
    db.refresh(failed)
    assert failed.status == "pending" and failed.attempts == 0
    assert admin_client.post_form("/admin/webhook-events/999999/retry").status_code == 404
