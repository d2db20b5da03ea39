from datetime import date
from decimal import Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from billing.customers import (
    Customer,
    CustomerDetails,
    LedgerCodeTaken,
    amounts_owed,
    create_customer,
    customer_match,
    get_customer,
    update_customer,
)
from billing.errors import BillingError
from billing.recurring.charges import pending_charges_of
from billing.recurring.memberships import (
    MembershipDetails,
    memberships_of,
    next_invoice,
    start_membership,
)
from billing.services import active_one_offs, active_plans
from billing.statements import invoice_list
from billing.users import Role, create_user
from portal.admin import bp
from portal.admin.forms import CustomerForm, MemberForm, MembershipForm, PendingChargeForm
from portal.db import get_db, rollback_request
from portal.views import form_status, found, paginated


@bp.get("/customers")
def customers():
    query = request.args.get("q", "")[:100].strip()
    stmt = select(Customer).order_by(Customer.name)
    if query:
        stmt = stmt.where(customer_match(query))
    page = paginated(get_db(), stmt)
    owed = amounts_owed(get_db(), [c.id for c in page.items])
    return render_template("admin/customers.html", page=page, owed=owed, query=query)


def _details(form: CustomerForm) -> CustomerDetails:
    return CustomerDetails(
        name=form.name.data,
        contact_name=form.contact_name.data or "",
        email=(form.email.data or "").lower(),
        phone=form.phone.data or "",
        address=form.address.data or "",
        ledger_code=form.ledger_code.data or None,
        payment_terms_days=form.payment_terms_days.data,
    )


def _save(form, save, **context):
    if form.validate_on_submit():
        try:
            customer = save(_details(form))
        except LedgerCodeTaken as error:
            form.ledger_code.errors.append(str(error))
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(f"{customer.name} saved.", "success")
            return redirect(url_for("admin.customer", customer_id=customer.id))
    return render_template("admin/customer_form.html", form=form, **context), form_status(form)


@bp.route("/customers/new", methods=["GET", "POST"])
def new_customer():
    form = CustomerForm()
    if not form.is_submitted():
        form.payment_terms_days.data = current_app.config["DEFAULT_PAYMENT_TERMS_DAYS"]
    return _save(form, lambda d: create_customer(get_db(), d))


@bp.route("/customers/<int:customer_id>/edit", methods=["GET", "POST"])
def edit_customer(customer_id: int):
    customer = found(get_customer, customer_id)
    form = CustomerForm(obj=customer)
    return _save(form, lambda d: update_customer(get_db(), customer, d), customer=customer)


def _membership_form() -> MembershipForm:
    form = MembershipForm()
    form.service_id.choices = [(plan.id, plan.name) for plan in active_plans(get_db())]
    if not form.is_submitted():
        form.starts_on.data = date.today()
    return form


def _charge_form() -> PendingChargeForm:
    form = PendingChargeForm(prefix="charge")
    form.service_id.choices = [(s.id, s.name) for s in active_one_offs(get_db())]
    if not form.is_submitted():
        form.charged_on.data = date.today()
    return form


def _customer_page(customer, member_form, status=200, membership_form=None, charge_form=None):
    from billing.invoices.model import Invoice

    stmt = invoice_list(customer_id=customer.id).order_by(
        Invoice.issue_date.desc(), Invoice.id.desc()
    )
    return render_template(
        "admin/customer.html",
        customer=customer,
        page=paginated(get_db(), stmt),
        owed=amounts_owed(get_db(), [customer.id]).get(customer.id, {}),
        member_form=member_form,
        memberships=[
            (m, next_invoice(m, current_app.config["BILLING_DAY"]))
            for m in memberships_of(get_db(), customer.id)
        ],
        membership_form=membership_form or _membership_form(),
        charges=pending_charges_of(get_db(), customer.id),
        charge_form=charge_form or _charge_form(),
        today=date.today(),
    ), status


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int):
    return _customer_page(found(get_customer, customer_id), MemberForm())


@bp.post("/customers/<int:customer_id>/memberships")
def add_membership(customer_id: int):
    customer = found(get_customer, customer_id)
    form = _membership_form()
    if form.validate_on_submit():
        try:
            membership = start_membership(
                get_db(),
                customer.id,
                MembershipDetails(
                    service_id=form.service_id.data,
                    starts_on=form.starts_on.data,
                    ends_on=form.ends_on.data,
                    quantity=form.quantity.decimal or Decimal(1),
                    price=form.price.decimal,
                    discount_percent=form.discount_percent.decimal,
                    note=form.note.data or "",
                ),
                today=date.today(),
            )
        except BillingError as error:
            form.form_errors.append(str(error))
        else:
            flash(
                f"{customer.name} is on {membership.service.name} from "
                f"{membership.starts_on:%d %b %Y}; the billing run invoices it.",
                "success",
            )
            return redirect(url_for("admin.customer", customer_id=customer.id))
    rollback_request()  # no membership half-made
    return _customer_page(customer, MemberForm(), 422, membership_form=form)


@bp.post("/customers/<int:customer_id>/members")
def add_member(customer_id: int):
    customer = found(get_customer, customer_id)
    form = MemberForm()
    if form.validate_on_submit():
        try:
            create_user(
                get_db(),
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                role=Role.MEMBER,
                customer_id=customer.id,
            )
        except BillingError as error:
            form.email.errors = [*form.email.errors, str(error)]
        else:
            flash(
                f"{form.email.data} can now sign in and see {customer.name}'s invoices.",
                "success",
            )
            return redirect(url_for("admin.customer", customer_id=customer.id))
    rollback_request()  # no member half-made
    return _customer_page(customer, form, 422)
