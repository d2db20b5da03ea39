from billing.invoices import Invoice
from tests.factories import ServiceFactory


def test_send_a_test_invoice_and_clean_up(db, admin_client):
    service = ServiceFactory(name="Meeting room")
    page = admin_client.get("/admin/trial-run")
    assert page.status_code == 200 and b"Send a test invoice" in page.data

    sent = admin_client.post_form("/admin/trial-run", {"service_id": service.id})
    assert sent.status_code == 302
    [invoice] = db.query(Invoice).all()
    assert invoice.customer.is_test
    listing = admin_client.get("/admin/trial-run").get_data(as_text=True)
    assert invoice.number in listing
    assert listing.count('data-done="no"') == 5
    assert 'http-equiv="refresh"' in listing

    assert b"Clean up the test invoices?" in admin_client.get("/admin/trial-run/clean-up").data
    assert admin_client.post_form("/admin/trial-run/clean-up").status_code == 302
    db.refresh(invoice)
    assert invoice.status == "voided"


def test_unknown_service_is_refused(db, admin_client):
    response = admin_client.post_form("/admin/trial-run", {"service_id": "999999"})
    assert response.status_code == 422
    assert db.query(Invoice).count() == 0
