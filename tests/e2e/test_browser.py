"""The whole billing round trip in a real browser: an admin builds a service and an invoice
through the pages and issues it; the customer's member then signs in and sees what is owed."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CENT = Decimal("0.01")
SERVICE_CODE = "ROOM-E2E"
SERVICE_NAME = "Meeting room (hour)"
UNIT_PRICE = Decimal("24.95")
QUANTITY = Decimal("3")
OTHER_CUSTOMER = "Harbour Yard Studios"


def gbp(amount: Decimal) -> str:
    """How the portal (Babel, en_GB) shows an amount; computed here, not by the portal."""
    return format_currency(amount, "GBP", locale="en_GB")


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def pick_customer_by_keyboard(page: Page, wanted: str) -> None:
    """Type part of the name into the customer combobox, then Down, Up and Enter."""
    picker = page.get_by_role("combobox", name="Customer")
    listbox = page.get_by_role("listbox", name="Customer")
    expect(picker).to_have_attribute("aria-expanded", "false")
    expect(picker).to_have_attribute("aria-controls", re.compile(r"\S+"))
    picker.press_sequentially("harb")
    options = listbox.get_by_role("option")
    # Names that start with what is typed, alphabetically: "Harbour Works" before "Harbour Yard".
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text(wanted)
    expect(options.nth(1)).to_contain_text(OTHER_CUSTOMER)
    expect(picker).to_have_attribute("aria-expanded", "true")
    assert picker.get_attribute("aria-controls") == listbox.get_attribute("id")
    # Escape closes the list; Down opens it again on the first option.
    picker.press("Escape")
    expect(listbox).to_be_hidden()
    expect(picker).to_have_attribute("aria-expanded", "false")
    picker.press("ArrowDown")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    picker.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    expect(picker).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    picker.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(picker).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    # Enter picks (and does not submit the form while the list is open).
    picker.press("Enter")
    expect(listbox).to_be_hidden()
    expect(picker).to_have_attribute("aria-expanded", "false")
    expect(picker).to_have_value(wanted)
    expect(page.locator("#customer_id")).to_have_value(re.compile(r"^[1-9][0-9]*$"))
    expect(page).to_have_url(re.compile(r"/admin/invoices/new$"))


def test_admin_issues_invoice_and_member_sees_it_awaiting_payment(
    page: Page, live_server, tmp_path
):
    base = live_server.url
    seed = live_server.seed
    # Exclusive amounts, tax per line rounded half-up to 2 places: 74.85 + 14.97 = 89.82.
    line_amount = (QUANTITY * UNIT_PRICE).quantize(CENT, ROUND_HALF_UP)
    tax = (line_amount * seed.tax_rate_percent / 100).quantize(CENT, ROUND_HALF_UP)
    due = gbp(line_amount + tax)
    assert due == "£89.82"  # the worked example; a change here means the constants changed

    # --- The admin adds a service to the library.
    sign_in(page, base, seed.admin.email, seed.admin.password)
    page.goto(f"{base}/admin/services/new")
    page.get_by_label("Code", exact=True).fill(SERVICE_CODE)
    page.get_by_label("Name", exact=True).fill(SERVICE_NAME)
    page.get_by_label("Unit price", exact=True).fill(f"{UNIT_PRICE}")
    page.get_by_label("Tax rate", exact=True).select_option(
        label=f"{seed.tax_rate_name} ({seed.tax_rate_percent.normalize():f}%)"
    )
    page.get_by_role("button", name="Save service").click()
    expect(page.get_by_role("status")).to_contain_text(f"Service {SERVICE_CODE} saved.")

    # --- A second customer whose name starts the same way, so the picker has a choice.
    page.goto(f"{base}/admin/customers/new")
    page.get_by_label("Company name", exact=True).fill(OTHER_CUSTOMER)
    page.get_by_label("Ledger code", exact=True).fill("HSB-01")
    page.get_by_role("button", name="Save customer").click()
    expect(page.get_by_role("status")).to_contain_text(f"{OTHER_CUSTOMER} saved.")

    # --- ...and writes an invoice for the customer from it, picking the customer by keyboard.
    page.goto(f"{base}/admin/invoices/new")
    pick_customer_by_keyboard(page, seed.customer_name)
    page.get_by_label("Service, line 1", exact=True).select_option(
        label=f"{SERVICE_CODE} - {SERVICE_NAME}"
    )
    # The page's script fills the line from the service.
    expect(page.get_by_label("Description, line 1", exact=True)).to_have_value(SERVICE_NAME)
    expect(page.get_by_label("Unit price, line 1", exact=True)).to_have_value(f"{UNIT_PRICE}")
    expect(page.get_by_label("Quantity, line 1", exact=True)).to_have_value("1")
    page.get_by_label("Quantity, line 1", exact=True).fill(f"{QUANTITY}")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")

    page.get_by_role("button", name="Issue invoice").click()
    issued = page.get_by_role("status").filter(has_text="issued")
    expect(issued).to_contain_text("it is awaiting payment")
    number = re.search(r"Invoice (\S+) issued", issued.inner_text()).group(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {number}")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()

    # --- The customer's member signs in: the invoice is awaiting payment on the home page.
    sign_in(page, base, seed.member.email, seed.member.password)
    expect(page.get_by_role("heading", name="Awaiting payment")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text(due)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Awaiting payment")
    expect(row.get_by_role("cell", name=due, exact=True)).to_be_visible()

    # ...and on the Awaiting payment list.
    page.get_by_role("navigation").get_by_role("link", name="Awaiting payment").click()
    expect(page).to_have_url(f"{base}/invoices")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
    expect(row.get_by_role("cell", name=due, exact=True)).to_be_visible()

    # --- The invoice page shows the line and the amount due.
    row.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {number}")
    line = page.get_by_role("row").filter(has_text=SERVICE_NAME)
    expect(line.get_by_role("cell")).to_have_text(
        [
            SERVICE_NAME,
            f"{QUANTITY}",
            f"{UNIT_PRICE}",
            seed.tax_rate_name,
            gbp(tax),
            gbp(line_amount),
        ]
    )
    amount_due = page.get_by_role("row").filter(has_text="Amount due")
    expect(amount_due).to_contain_text(due)
    expect(page.get_by_test_id("amount-due")).to_have_text(due)

    screenshot = tmp_path / "member-invoice.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0, f"empty screenshot of the member's invoice: {screenshot}"
