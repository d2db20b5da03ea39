from flask import abort, flash, redirect, render_template, url_for

from billing.db import utcnow
from billing.inbox import InboundEvent, retry_event, troubled_events
from portal.admin import bp
from portal.admin.forms import ConfirmForm
from portal.db import get_db


@bp.get("/webhook-events")
def inbox():
    """Webhook events from Stripe and Xero that could not be handled (yet)."""
    events = list(get_db().scalars(troubled_events()))
    return render_template("admin/inbox.html", events=events, confirm=ConfirmForm())


@bp.post("/webhook-events/<int:event_id>/retry")
def retry_inbound_event(event_id: int):
    event = get_db().get(InboundEvent, event_id)
    if event is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        retry_event(get_db(), event, utcnow())
        flash(f"The {event.provider} event {event.event_id} will be handled again.", "success")
    return redirect(url_for("admin.inbox"))
