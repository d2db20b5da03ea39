"""Form fields shared by the admin forms: money typed as text, parsed to Decimal strictly."""

from __future__ import annotations

from decimal import Decimal

from wtforms import StringField
from wtforms.validators import ValidationError

from billing.errors import InvalidAmount
from billing.money import MAX_AMOUNT, parse_decimal


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

    def pre_validate(self, form) -> None:
        self.decimal = None
        raw = (self.data or "").strip()
        if not raw:
            return  # DataRequired / Optional decide whether blank is allowed
        if len(raw) > 30:
            raise ValidationError("That number is too long.")
        try:
            value = parse_decimal(raw, places=self.places, field=str(self.label.text))
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
