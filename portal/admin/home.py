from datetime import date

from flask import render_template

from billing.statements import admin_summary
from portal.admin import bp
from portal.db import get_db


@bp.get("/")
def home():
    return render_template("admin/home.html", summary=admin_summary(get_db(), date.today()))
