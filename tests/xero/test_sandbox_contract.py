"""Contract checking: the sandbox's traffic against Xero's OpenAPI description."""

from __future__ import annotations

import json

from flask import Response

from tests.xero.conftest import needs_openapi
from xero_sandbox import Sandbox, create_sandbox_app
from xero_sandbox.contract import ContractChecker

from .conftest import http


def _put_invoices(sandbox, connected, payload):
    return http().request(
        "PUT",
        f"{sandbox.accounting_url}/Invoices",
        body=json.dumps(payload),
        headers={
            "Authorization": f"Bearer {connected.token['access_token']}",
            "xero-tenant-id": connected.tenant_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )


@needs_openapi
def test_sdk_false_flags_pass_but_other_read_only_fields_are_reported(accounting_api, sandbox):
    contact = {"Name": "Raw Client Ltd", "HasValidationErrors": False}
    ok = {"Type": "ACCREC", "Contact": contact, "HasErrors": False, "HasAttachments": False}
    assert _put_invoices(sandbox, accounting_api, {"Invoices": [ok]}).status == 200
    assert sandbox.sandbox.contract_violations == []

    with_read_only = dict(ok, AmountPaid=10)
    _put_invoices(sandbox, accounting_api, {"Invoices": [with_read_only]})
    [violation] = sandbox.sandbox.contract_violations
    assert violation.direction == "request" and "AmountPaid" in violation.message
    sandbox.sandbox.contract_violations.clear()


@needs_openapi
def test_wrong_enum_and_missing_tenant_header_are_reported(accounting_api, sandbox):
    bad = {"Type": "ACCRECX", "Contact": {"Name": "Raw Client Ltd"}}
    answer = _put_invoices(sandbox, accounting_api, {"Invoices": [bad]})
    assert answer.status == 400  # the sandbox refuses it too
    assert any("ACCRECX" in v.message for v in sandbox.sandbox.contract_violations)
    sandbox.sandbox.contract_violations.clear()


@needs_openapi
def test_responses_are_checked():
    sandbox = Sandbox(validate_contract=True)
    app = create_sandbox_app(sandbox)
    with app.test_request_context("/api.xro/2.0/Invoices", method="GET"):
        from flask import request

        bogus = Response(
            json.dumps({"Invoices": [{"Status": "BOGUS", "Total": "lots"}]}),
            content_type="application/json",
        )
        violations = sandbox.contract.check_response(request, bogus)
    assert violations and violations[0].direction == "response"
    assert "BOGUS" in violations[0].message


def test_missing_descriptions_skip_checking_with_a_reason(tmp_path, capsys):
    assert ContractChecker.load(tmp_path) is None
    assert "contract checking skipped" in capsys.readouterr().err
    sandbox = Sandbox(validate_contract=True, contract_spec_dir=str(tmp_path))
    assert sandbox.contract is None


@needs_openapi
def test_violations_are_readable_over_http(accounting_api, sandbox):
    listed = http().request("GET", f"{sandbox.url}/_sandbox/contract-violations").json()
    assert listed == {"enabled": True, "violations": []}
