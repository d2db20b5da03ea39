from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from billing.users import MIN_PASSWORD_LENGTH
from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class TotpForm(FlaskForm):
    code = StringField(
        "6-digit code",
        validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$", message="Enter the 6 digits.")],
    )


class SecondFactorForm(FlaskForm):
    """At sign-in: the app's 6-digit code, or one of the recovery codes."""

    code = StringField(
        "Code",
        validators=[
            DataRequired(),
            Length(max=20),
            Regexp(
                r"^\s*(\d{6}|[A-Za-z0-9]{5}-?[A-Za-z0-9]{5})\s*$",
                message="Enter the 6 digits from your app, or a recovery code.",
            ),
        ],
    )


class PasswordConfirmForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=200)])


class StartTotpForm(FlaskForm):
    """A button: starting (or restarting) enrolment makes a new secret, so it is a POST."""


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=200)])
    new = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"Use {MIN_PASSWORD_LENGTH} to 200 characters.",
            ),
        ],
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")],
    )


class SetPasswordForm(FlaskForm):
    new = ChangePasswordForm.new
    confirm = ChangePasswordForm.confirm
