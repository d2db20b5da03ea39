"""What one request's elements reserve from each other before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..state import Contact

Plan = Callable[[], Any]


@dataclass
class Batch:
    now: float
    user: str
    #: casefolded contact names taken by earlier elements
    contact_names: set[str] = field(default_factory=set)
    #: contacts earlier invoice elements will create by name
    new_contacts: dict[str, Contact] = field(default_factory=dict)
    invoice_numbers: set[str] = field(default_factory=set)
    #: amounts earlier payment elements will apply, per invoice
    pending_payments: dict[str, Decimal] = field(default_factory=dict)
