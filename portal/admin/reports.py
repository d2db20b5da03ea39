from datetime import date

from flask import render_template

from billing.statements import money_received
from portal.admin import bp
from portal.db import get_db
from portal.money_chart import bar_chart


@bp.get("/reports/money-received")
def money_received_report():
    by_currency = money_received(get_db(), date.today())
    charts = {currency: bar_chart(months) for currency, months in by_currency.items()}
    return render_template("admin/money_received.html", by_currency=by_currency, charts=charts)
