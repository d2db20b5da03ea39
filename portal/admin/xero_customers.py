"""A customer beside its Xero contact: the contact read live from Xero, look-up and link,
changing the id by hand, and "Export to Xero". The customer page's Xero panel comes from a
template global, so the customer views need not know about Xero."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from billing.customers import Customer, amounts_owed, get_customer
from billing.db import outside_transaction
from portal.admin import bp
from portal.admin.forms import ConfirmForm, strip
from portal.db import get_db, writes_on_get
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)
from portal.views import form_status, found
from portal.xero_setup import xero_integration
from xero.admin import contact_links
from xero.admin.contact_links import (
    ConfirmationMismatch,
    ContactLinkError,
    MalformedContactId,
    XeroContactView,
)
from xero.admin.sync_log import customer_open_job
from xero.api.errors import AuthLost, NotConnected, NotFound, XeroError
from xero.models import JobKind, SyncJob, XeroSettings
from xero.sync.outbox import enqueue


class LinkForm(FlaskForm):
    contact_id = HiddenField(validators=[DataRequired(), Length(max=100)], filters=[strip])


class ChangeContactIdForm(FlaskForm):
    contact_id = StringField("New Xero contact id", validators=[Length(max=100)], filters=[strip])
    # Not stripped: the name must be typed exactly as it is.
    confirm_name = StringField("Customer name", validators=[Length(max=300)])


@bp.app_template_global()
def xero_panel_for_customer(customer_id: int) -> SyncJob | None:
    return customer_open_job(get_db(), customer_id)


def _base_currency() -> str:
    return get_db().scalar(select(XeroSettings.base_currency).limit(1)) or ""


@bp.get("/customers/<int:customer_id>/xero")
@writes_on_get  # a search in Xero is a call counted against the rate limit
def customer_xero(customer_id: int):
    customer: Customer = found(get_customer, customer_id)
    term = request.args.get("q", "")[: contact_links.MAX_TERM]
    side = contact_links.xero_side(get_db(), xero_integration(), customer, term)
    found_ids = [r.contact_id for r in side.results or []]
    linked_to = dict(
        get_db()
        .execute(
            select(Customer.xero_contact_id, Customer.name).where(
                Customer.xero_contact_id.in_(found_ids), Customer.id != customer.id
            )
        )
        .all()
    )
    return render_template(
        "admin/xero_contact.html",
        customer=customer,
        side=side,
        term=term,
        linked_to=linked_to,
        owed=amounts_owed(get_db(), [customer.id]).get(customer.id, {}),
        base_currency=_base_currency(),
        confirm=ConfirmForm(),
        open_job=customer_open_job(get_db(), customer.id),
    )


def _back(customer_id: int):
    return redirect(url_for("admin.customer_xero", customer_id=customer_id))


def _live_contact(contact_id: str) -> XeroContactView | None:
    """The contact from Xero, or None with the reason flashed."""
    try:
        api = xero_integration().api(get_db())
        outside_transaction(get_db())  # no transaction stays open while Xero answers
        return contact_links.fetch_contact(api, contact_id)
    except NotConnected:
        flash("Xero is not connected: connect it before linking contacts.", "error")
    except NotFound:
        flash(f"Xero has no contact with the id {contact_id}.", "error")
    except (AuthLost, XeroError) as error:
        flash(f"Xero could not be reached: {error}", "error")
    return None


@bp.post("/customers/<int:customer_id>/xero/link")
def link_xero_contact(customer_id: int):
    customer: Customer = found(get_customer, customer_id)
    form = LinkForm()
    if not form.validate_on_submit():
        abort(400, "Choose a Xero contact to link.")
    try:
        contact_id = contact_links.normalised_id(form.contact_id.data)
    except MalformedContactId as error:
        flash(str(error), "error")
        return _back(customer.id)
    if customer.xero_contact_id and customer.xero_contact_id != contact_id:
        flash(
            f"{customer.name} is already linked to another Xero contact. Changing the link "
            "must be confirmed here.",
            "info",
        )
        return redirect(
            url_for("admin.change_xero_contact_id", customer_id=customer.id, contact_id=contact_id)
        )
    contact = _live_contact(contact_id)
    if contact is None:
        return _back(customer.id)
    try:
        contact_links.link_contact(get_db(), customer, contact, current_user.id)
    except ContactLinkError as error:
        flash(str(error), "error")
    else:
        flash(f"{customer.name} is linked to the Xero contact {contact.name}.", "success")
    return _back(customer.id)


@bp.route("/customers/<int:customer_id>/xero/change-id", methods=["GET", "POST"])
def change_xero_contact_id(customer_id: int):
    customer: Customer = found(get_customer, customer_id)
    form = ChangeContactIdForm()
    if not form.is_submitted():
        form.contact_id.data = request.args.get("contact_id", "")[:100]
    if form.validate_on_submit():
        old_id = customer.xero_contact_id
        try:
            contact_links.change_contact_id(
                get_db(),
                customer,
                form.contact_id.data or "",
                form.confirm_name.data or "",
                current_user.id,
            )
        except ConfirmationMismatch as error:
            form.confirm_name.errors = [*form.confirm_name.errors, str(error)]
        except ContactLinkError as error:
            form.contact_id.errors = [*form.contact_id.errors, str(error)]
        else:
            if customer.xero_contact_id == old_id:
                flash("The Xero contact id is unchanged.", "info")
            elif customer.xero_contact_id:
                flash(
                    f"{customer.name} now uses Xero contact {customer.xero_contact_id}.", "success"
                )
            else:
                flash(f"{customer.name} is no longer linked to a Xero contact.", "success")
            return _back(customer.id)
    return render_template(
        "admin/xero_contact_change.html", form=form, customer=customer
    ), form_status(form)


@bp.post("/customers/<int:customer_id>/xero/export")
def export_to_xero(customer_id: int):
    customer: Customer = found(get_customer, customer_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        job = enqueue(get_db(), JobKind.CONTACT, customer.id)
        flash(
            f"{customer.name} is queued for Xero (job #{job.id}): the portal links or creates "
            "its contact by the matching rules.",
            "success",
        )
    return _back(customer.id)
