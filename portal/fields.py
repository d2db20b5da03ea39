"""Form fields shared by the admin forms: money typed as text, parsed to Decimal strictly."""

from __future__ import annotations

import re
from decimal import Decimal

from wtforms import StringField
from wtforms.validators import StopValidation, ValidationError

from billing.errors import InvalidAmount
from billing.money import MAX_AMOUNT, parse_decimal

#: Plain ASCII decimals, optionally with thousands commas. Decimal() alone would also take
#: 1e3, 1_000 and non-ASCII digits (e.g. full-width), none of which an admin means as money.
PLAIN_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?", re.ASCII)


class DecimalText(StringField):
    """A number with at most ``places`` decimals between ``minimum`` and ``maximum``.

    WTForms' DecimalField would accept 1e3 and round 9.99999 silently; billing must not.
    """

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        places: int,
        minimum: Decimal = Decimal(0),
        maximum: Decimal = MAX_AMOUNT,
        exclusive_minimum: bool = False,
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.places = places
        self.minimum = minimum
        self.maximum = maximum
        self.exclusive_minimum = exclusive_minimum
        self.decimal: Decimal | None = None

    def process_data(self, value) -> None:
        # Object data (a model's Decimal column) is shown and re-validated as typed text, so a
        # request that leaves the field out is checked like one that sends it.
        if isinstance(value, Decimal):
            value = f"{value.normalize():f}"
        super().process_data(value)

    def pre_validate(self, form) -> None:
        self.decimal = None
        raw = str(self.data or "").strip()
        if not raw:
            if self.flags.required:
                # InputRequired looks at the raw text, which may be only spaces.
                raise StopValidation(self.gettext("This field is required."))
            return  # Optional: blank is allowed and the caller decides what blank means
        if len(raw) > 30:
            raise ValidationError("That number is too long.")
        field = str(self.label.text)
        if not PLAIN_NUMBER.fullmatch(raw) or not any(c.isdigit() for c in raw):
            raise ValidationError(f"{field} must be a number.")
        try:
            value = parse_decimal(raw, places=self.places, field=field)
        except InvalidAmount as error:
            raise ValidationError(str(error)) from None
        if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
            raise ValidationError(
                f"Must be more than {self.minimum}."
                if self.exclusive_minimum
                else f"Cannot be less than {self.minimum}."
            )
        if value > self.maximum:
            raise ValidationError(f"Cannot be more than {self.maximum:,}.")
        self.decimal = value
