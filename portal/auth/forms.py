from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.forms import PortalForm as FlaskForm  # refuses unstorable text (portal.forms)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class TotpForm(FlaskForm):
    code = StringField(
        "6-digit code",
        validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$", message="Enter the 6 digits.")],
    )


class DisableTotpForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=200)])
