from flask import Blueprint

from portal.access import require_member

bp = Blueprint("member", __name__)
bp.before_request(require_member)

from portal.member import overpaid, pay, views  # noqa: E402,F401
