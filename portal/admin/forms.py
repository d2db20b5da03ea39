from __future__ import annotations

from decimal import Decimal

from babel.numbers import list_currencies
from wtforms import (
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from billing.invoices.operations import MAX_LINES
from billing.money import MAX_AMOUNT, MAX_QUANTITY
from billing.recurring.periods import Cycle, Proration, Timing
from billing.services import MAX_MINIMUM_TERM, MAX_NOTICE_DAYS
from billing.tax import LineAmountType
from billing.users import MIN_PASSWORD_LENGTH
from portal.fields import DecimalText
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)

EMAIL = Regexp(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", message="Enter a valid email address.")
CODE = Regexp(r"^[A-Za-z0-9._-]*$", message="Use letters, digits, dot, dash or underscore.")
CURRENCY = Regexp(r"^[A-Za-z]{3}$", message="Use a three-letter ISO code such as GBP.")


def known_currency(form, field) -> None:
    """After CURRENCY: three letters that are not an ISO 4217 code (ABC) are refused too."""
    code = (field.data or "").upper()
    if len(code) == 3 and code.isascii() and code.isalpha() and code not in list_currencies():
        raise ValidationError(f"{code} is not a known currency.")


def strip(value):
    return value.strip() if isinstance(value, str) else value


class ServiceForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=30), CODE], filters=[strip])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)], filters=[strip])
    description = TextAreaField("Description", validators=[Length(max=2000)], filters=[strip])
    unit_price = DecimalText("Unit price", validators=[InputRequired()], places=4)
    currency = StringField(
        "Currency", validators=[DataRequired(), CURRENCY, known_currency], filters=[strip]
    )
    sales_account_code = StringField(
        "Sales account code",
        validators=[DataRequired(), Length(max=10), CODE],
        filters=[strip],
    )
    tax_rate_id = SelectField("Tax rate", coerce=int, validators=[InputRequired()])
    # A plan's terms: billed to every member on it each period (One-off: invoiced by hand).
    cycle = SelectField(
        "Billing",
        choices=[
            ("", "One-off (invoiced by hand)"),
            (Cycle.WEEKLY.value, "Weekly plan"),
            (Cycle.MONTHLY.value, "Monthly plan"),
            (Cycle.QUARTERLY.value, "Quarterly plan"),
            (Cycle.YEARLY.value, "Yearly plan"),
        ],
        default="",
    )
    timing = SelectField(
        "Invoiced",
        choices=[
            (Timing.ADVANCE.value, "In advance (on the period's first day)"),
            (Timing.ARREARS.value, "In arrears (once the period is over)"),
        ],
        default=Timing.ADVANCE.value,
    )
    prorate_start = SelectField(
        "Starting mid-period",
        choices=[
            (Proration.BY_DAY.value, "Pays the days left"),
            (Proration.NONE.value, "Pays the whole period"),
        ],
        default=Proration.BY_DAY.value,
    )
    prorate_end = SelectField(
        "Ending mid-period",
        choices=[
            (Proration.BY_DAY.value, "Pays the days used"),
            (Proration.NONE.value, "Pays the whole period"),
        ],
        default=Proration.BY_DAY.value,
    )
    minimum_term_periods = IntegerField(
        "Minimum term (periods)",
        default=0,
        validators=[Optional(), NumberRange(min=0, max=MAX_MINIMUM_TERM)],
    )
    notice_days = IntegerField(
        "Notice (days)",
        default=0,
        validators=[Optional(), NumberRange(min=0, max=MAX_NOTICE_DAYS)],
    )


class CustomerForm(FlaskForm):
    name = StringField(
        "Company name", validators=[DataRequired(), Length(max=255)], filters=[strip]
    )
    contact_name = StringField("Contact name", validators=[Length(max=255)], filters=[strip])
    email = EmailField("Email", validators=[Optional(), Length(max=254), EMAIL], filters=[strip])
    phone = StringField(
        "Phone",
        validators=[
            Length(max=50),
            Regexp(r"^[0-9 +()./-]*$", message="Use digits, spaces and + ( ) - only."),
        ],
        filters=[strip],
    )
    address = TextAreaField("Address", validators=[Length(max=1000)], filters=[strip])
    ledger_code = StringField("Ledger code", validators=[Length(max=50), CODE], filters=[strip])
    payment_terms_days = IntegerField(
        "Payment terms (days)",
        validators=[InputRequired(), NumberRange(min=0, max=365)],
    )


class MemberForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)], filters=[strip])
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=254), EMAIL], filters=[strip]
    )
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
    )


def _quantity() -> DecimalText:
    """How many of a plan or a service: required, above 0, 4 places, 1 unless given."""
    return DecimalText(
        "Quantity",
        validators=[InputRequired()],
        places=4,
        minimum=Decimal(0),
        exclusive_minimum=True,
        maximum=MAX_QUANTITY,
        default="1",
    )


class MembershipForm(FlaskForm):
    service_id = SelectField("Plan", coerce=int, validators=[InputRequired()])
    starts_on = DateField("Starts on", validators=[InputRequired()])
    ends_on = DateField("Last day (optional)", validators=[Optional()])
    quantity = _quantity()
    price = DecimalText("Price instead of the plan's (optional)", places=4)
    discount_percent = DecimalText(
        "Discount % (optional)", places=2, minimum=Decimal(0), maximum=Decimal(100)
    )
    note = StringField("Note on each invoice line", validators=[Length(max=500)], filters=[strip])


class PendingChargeForm(FlaskForm):
    """Prefixed ``charge-`` where it is used: the customer page has a plan form too."""

    service_id = SelectField("Service", coerce=int, validators=[InputRequired()])
    charged_on = DateField("Date", validators=[InputRequired()])
    quantity = _quantity()
    unit_price = DecimalText(
        "Unit price instead of the service's (optional)",
        places=4,
        minimum=Decimal(0),
        exclusive_minimum=True,
        maximum=MAX_AMOUNT,
    )
    description = StringField(
        "Description (optional)", validators=[Length(max=500)], filters=[strip]
    )


class CountedFieldList(FieldList):
    """A FieldList that remembers how many entries were posted.

    FieldList keeps the first ``max_entries`` and silently drops the rest; an invoice
    posted with 101 lines must be refused, not saved with 100.
    """

    submitted_entries = 0

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.submitted_entries = (
            len(set(self._extract_indices(self.name, formdata))) if formdata else 0
        )
        super().process(formdata, data, extra_filters)


class LineForm(Form):
    service_id = SelectField("Service", coerce=str, validate_choice=False)
    description = TextAreaField("Description", validators=[Length(max=4000)], filters=[strip])
    quantity = DecimalText(
        "Quantity",
        places=4,
        minimum=Decimal(0),
        exclusive_minimum=True,
        maximum=MAX_QUANTITY,
    )
    unit_price = DecimalText("Unit price", places=4)

    def is_blank(self) -> bool:
        return not any(
            (
                self.service_id.data or "",
                self.description.data,
                self.quantity.data,
                self.unit_price.data,
            )
        )


class InvoiceForm(FlaskForm):
    # A customer picker (portal.admin.customer_picker): the text an admin types (or the name
    # the script fills in) and the id of the customer picked; the view resolves the two.
    customer_name = StringField("Customer", filters=[strip])
    customer_id = HiddenField()
    currency = StringField(
        "Currency", validators=[DataRequired(), CURRENCY, known_currency], filters=[strip]
    )
    line_amount_type = SelectField(
        "Amounts are",
        choices=[(t.value, t.label) for t in LineAmountType],
        default=LineAmountType.EXCLUSIVE.value,
    )
    issue_date = DateField("Invoice date", validators=[InputRequired()])
    due_date = DateField("Due date", validators=[Optional()])
    expected_payment_date = DateField("Expected payment date", validators=[Optional()])
    reference = StringField("Reference", validators=[Length(max=255)], filters=[strip])
    lines = CountedFieldList(FormField(LineForm), min_entries=1, max_entries=MAX_LINES)

    def validate_lines(self, field) -> None:
        if field.submitted_entries > MAX_LINES:
            raise ValidationError(f"An invoice can have at most {MAX_LINES} lines.")


class IssuedInvoiceForm(FlaskForm):
    """What may change once an invoice is awaiting payment."""

    reference = StringField("Reference", validators=[Length(max=255)], filters=[strip])
    due_date = DateField("Due date", validators=[InputRequired()])
    expected_payment_date = DateField("Expected payment date", validators=[Optional()])


class ConfirmForm(FlaskForm):
    """A bare form for buttons: it carries only the CSRF token."""


class TaxRateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)], filters=[strip])
    rate_percent = DecimalText(
        "Rate (%)", validators=[InputRequired()], places=4, maximum=Decimal(100)
    )


class BillingRunForm(FlaskForm):
    """Issue the invoices of a billing date (the preview shows them first)."""

    billing_date = DateField("Billing date", validators=[InputRequired()])


class EndMembershipForm(FlaskForm):
    last_day = DateField("Last day", validators=[InputRequired()])
    reason = StringField(
        "Reason for an exception (only to end within the notice or minimum term)",
        validators=[Length(max=500)],
        filters=[strip],
    )
