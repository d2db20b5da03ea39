"""Ids past what the database holds name nothing: 404 on every route, never a 500."""

import pytest
from werkzeug.routing import IntegerConverter


def _int_routes(app) -> list[tuple[str, str, list[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        ints = [
            name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)
        ]
        if ints:
            method = "GET" if "GET" in rule.methods else "POST"
            routes.append((rule.rule, method, ints))
    return routes


def test_there_are_id_routes_to_check(app):
    assert len(_int_routes(app)) > 10


@pytest.mark.parametrize("huge", [2**31, 2**63 - 1, 2**63, 10**40])
def test_every_id_route_answers_404_for_an_id_past_the_database(app, admin_client, huge):
    for rule, method, names in _int_routes(app):
        url = rule
        for name in names:
            url = url.replace(f"<int:{name}>", str(huge))
        for other in ("<path:", "<"):
            assert other not in url, f"{rule}: fill its other arguments in this test"
        response = admin_client.open(
            url, method=method, data={"csrf_token": admin_client.csrf_token()}
        )
        assert response.status_code == 404, (rule, response.status_code)
