"""Ids past what the database holds name nothing: 404 on every route, never a 500.

The routes and the query-string ids are found, not listed: every rule of ``app.url_map``
with an ``<int:>`` part, and every view whose code calls ``id_arg("...")``.
"""

import re
import sys
from pathlib import Path

import pytest
from werkzeug.routing import IntegerConverter

import portal
from portal.converters import MAX_ID
from tests import factories
from tests.conftest import login

#: Past PostgreSQL's integer, past SQLite's (and bigint's) 64-bit signed, past 64 bits, far past.
HUGE = [2**31, 2**63 - 1, 2**63, 2**64, 10**30, 10**40]
#: Not the one spelling of an id: a second address for a page, or no id at all.
MALFORMED = ["0", "00", "01", "007", "+1", "-1", "1.0", "1e3", "١", "１"]
ROLES = ["anonymous", "member", "admin"]


def _int_routes(app) -> list[tuple[str, list[str], list[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        ints = [
            name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)
        ]
        if ints:
            methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
            routes.append((rule.rule, methods, ints))
    return routes


def _fill(rule: str, names: list[str], value: str) -> str:
    url = rule
    for name in names:
        url = url.replace(f"<int:{name}>", value)
    assert "<" not in url, f"{rule}: fill its other arguments in this test"
    return url


def _client(role, app, db):
    client = app.test_client()
    if role != "anonymous":
        user = factories.AdminFactory() if role == "admin" else factories.MemberFactory()
        db.commit()
        assert login(client, user.email).status_code == 302
    return client


def test_there_are_id_routes_to_check(app):
    assert len(_int_routes(app)) > 10


def test_the_bound_is_the_smallest_id_column():
    """Ids are bounded by the smallest integer type any id column (key or reference) has."""
    from sqlalchemy import BigInteger, Integer, SmallInteger

    from billing.db import Base

    id_types = {
        type(column.type)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if (column.primary_key or column.foreign_keys) and isinstance(column.type, Integer)
    }
    assert id_types, "no integer id columns found"
    assert SmallInteger not in id_types
    smallest = 2**63 - 1 if id_types == {BigInteger} else 2**31 - 1
    assert smallest == MAX_ID


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("value", [str(n) for n in HUGE] + MALFORMED)
def test_every_id_route_answers_404_for_an_id_that_names_nothing(app, db, role, value):
    client = _client(role, app, db)
    token = client.csrf_token()
    for rule, methods, names in _int_routes(app):
        url = _fill(rule, names, value)
        for method in methods:
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (role, method, url, response.status_code)


def test_the_largest_id_still_reaches_the_view(admin_client):
    """The bound is not too tight: 2^31-1 is a valid id that happens to name nothing."""
    response = admin_client.get(f"/admin/customers/{MAX_ID}")
    assert response.status_code == 404
    assert b"No such" in response.data or b"Not found" in response.data


def test_an_existing_id_with_a_leading_zero_is_not_a_second_address(admin_client, db):
    customer = factories.CustomerFactory()
    db.commit()
    assert admin_client.get(f"/admin/customers/{customer.id}").status_code == 200
    assert admin_client.get(f"/admin/customers/0{customer.id}").status_code == 404


# --- ?customer_id= and every other id read from the query string -------------------------------

ID_ARG = re.compile(r"""\bid_arg\(\s*["'](\w+)["']""")


@pytest.fixture
def id_arg_routes(app, admin_client, monkeypatch) -> list[tuple[str, str]]:
    """Every page (GET, no path arguments) and the query ids it reads through ``id_arg``,
    found by opening each page as an admin with a recording ``id_arg``."""
    import portal.views

    real = portal.views.id_arg
    asked: list[str] = []

    def recording(name: str):
        asked.append(name)
        return real(name)

    for module in list(sys.modules.values()):
        if module.__name__.startswith("portal.") and getattr(module, "id_arg", None) is real:
            monkeypatch.setattr(module, "id_arg", recording)
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static":
            asked.clear()
            admin_client.get(rule.rule)
            found.extend((rule.rule, name) for name in dict.fromkeys(asked))
    monkeypatch.undo()
    return found


def test_query_ids_are_found(id_arg_routes):
    assert ("/admin/invoices", "customer_id") in id_arg_routes
    assert ("/admin/invoices/new", "customer_id") in id_arg_routes
    # Every name the code reads through id_arg is checked on at least one page.
    source = "\n".join(path.read_text() for path in Path(portal.__file__).parent.rglob("*.py"))
    assert set(ID_ARG.findall(source)) - {"name"} <= {name for _, name in id_arg_routes}


@pytest.mark.parametrize("value", [str(n) for n in HUGE] + ["0", "9" * 5000])
def test_a_query_id_that_names_nothing_is_404(id_arg_routes, admin_client, value):
    for url, name in id_arg_routes:
        response = admin_client.get(f"{url}?{name}={value}")
        assert response.status_code == 404, (url, name, value[:20], response.status_code)


@pytest.mark.parametrize("value", ["abc", "00", "01", "+1", "-1", "1.0", "1e3", "١", "１", "1 "])
def test_a_malformed_query_id_is_a_400_bad_filter(id_arg_routes, admin_client, value):
    for url, name in id_arg_routes:
        response = admin_client.get(f"{url}?{name}={value}")
        assert response.status_code == 400, (url, name, value, response.status_code)
