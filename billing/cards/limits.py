"""Limits on card tries, counted in the database so every worker process sees the same counts:
declines per invoice and per member per hour, and card forms (SetupIntents) per member per
hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.cards.model import (
    AttemptStatus,
    CardPaymentAttempt,
)
from billing.db import utcnow
from billing.errors import BillingError

#: Declines allowed per invoice, whatever the amount or revision: enough for a typo and a
#: second card. Counted per invoice, not per amount, or 10.00, 10.01, 10.02... would each
#: bring five more tries at a stolen card number.
MAX_DECLINES_PER_INVOICE = 5
#: Declines allowed per member in any rolling hour, across all their company's invoices:
#: a card tester with many open invoices still gets only this many tries an hour.
MAX_DECLINES_PER_MEMBER_PER_HOUR = 10
#: SetupIntents (the card form's first step) per member in any rolling hour. Each checks a
#: card at Stripe for free; a member paying a few invoices needs one or two per payment.
MAX_CARD_SETUPS_PER_MEMBER_PER_HOUR = 20
HOUR = timedelta(hours=1)


class TooManyAttempts(BillingError):
    """Too many declines (per invoice or per member and hour), or too many card forms."""


@dataclass(frozen=True)
class Tries:
    """How many more declines the member may have on this invoice, and if none, why."""

    left: int
    refusal: str = ""


def tries_left(
    db: Session, invoice_id: int, user_id: int | None, now: datetime | None = None
) -> Tries:
    now = now or utcnow()
    declined = CardPaymentAttempt.status == AttemptStatus.FAILED
    on_invoice = db.scalar(
        select(func.count()).where(declined, CardPaymentAttempt.invoice_id == invoice_id)
    )
    left = MAX_DECLINES_PER_INVOICE - (on_invoice or 0)
    if left <= 0:
        return Tries(
            0,
            "This invoice's card payment was declined too many times. Please contact us to pay it.",
        )
    if user_id is None:
        return Tries(left)
    by_member = db.scalar(
        select(func.count()).where(
            declined,
            CardPaymentAttempt.user_id == user_id,
            CardPaymentAttempt.created_at > now - HOUR,
        )
    )
    member_left = MAX_DECLINES_PER_MEMBER_PER_HOUR - (by_member or 0)
    if member_left <= 0:
        return Tries(
            0,
            "Your card payments were declined too many times in the last hour. "
            "Please try again later, or contact us.",
        )
    return Tries(min(left, member_left))


def check_tries(db: Session, invoice_id: int, user_id: int | None, now: datetime) -> None:
    tries = tries_left(db, invoice_id, user_id, now)
    if tries.left <= 0:
        raise TooManyAttempts(tries.refusal)
