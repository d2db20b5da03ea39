"""One-time invitation links: an admin hands one to a member, who sets a password with it.

The link is signed (itsdangerous) and carries the login's id and session version, so it
stops working once used (setting the password ends the login's sessions, bumping the
version), when the login signs out anywhere, is deactivated, or after INVITATION_LINK_HOURS.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, session, url_for
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from billing.errors import BillingError
from billing.logins import claim_sessions_version
from billing.users import MIN_PASSWORD_LENGTH, User
from portal.auth.forms import SetPasswordForm
from portal.clock import now
from portal.db import get_db, rollback_request
from portal.login_sessions import sign_in
from portal.views import form_status

bp = Blueprint("invitations", __name__)
SALT = "member-invitation"


class _ClockSigner(TimestampSigner):
    """Ages links by the portal's clock, so expiry is tested without waiting."""

    def get_timestamp(self) -> int:
        return int(now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT, signer=_ClockSigner)


def link_for(user: User) -> str:
    token = _serializer().dumps({"user": user.id, "version": user.session_version})
    return url_for("invitations.accept", token=token, _external=True)


USED = "This invitation link was used already or withdrawn. Ask for a new one."


def _invited(token: str) -> tuple[User, int]:
    hours = int(current_app.config["INVITATION_LINK_HOURS"])
    try:
        claim = _serializer().loads(token, max_age=hours * 3600)
    except SignatureExpired:
        abort(410, "This invitation link has expired. Ask for a new one.")
    except BadSignature:
        abort(400, "This invitation link is not valid. Check you copied all of it.")
    user = get_db().get(User, claim.get("user")) if isinstance(claim, dict) else None
    if user is None or not user.active or claim.get("version") != user.session_version:
        abort(410, USED)
    return user, claim["version"]


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str):
    if len(token) > 500:
        abort(400, "This invitation link is not valid. Check you copied all of it.")
    user, version = _invited(token)
    form = SetPasswordForm()

    def page(status: int):
        return render_template(
            "auth/invitation.html", form=form, user=user, min_length=MIN_PASSWORD_LENGTH
        ), status

    if not form.validate_on_submit():
        return page(form_status(form))
    # Two requests with one link: only one claims it (the other is told it was used).
    if not claim_sessions_version(get_db(), user, version):
        abort(410, USED)
    try:
        user.set_password(form.new.data)
    except BillingError as error:
        rollback_request()  # the link stays unused
        form.new.errors = [str(error)]
        return page(422)
    session.clear()
    sign_in(user)
    flash("Your password is set. Welcome.", "success")
    return redirect(url_for("admin.home") if user.is_admin else url_for("member.home"))
