"""``python -m bench.stress`` (``make stress``): the stress run at full size, its findings,
and one JSON line last; exits 1 when any count is above zero.

STRESS_INVOICES, STRESS_CLIENTS and STRESS_DATABASE_URL change the size, the number of
concurrent clients and the PostgreSQL server (a scratch database is made beside it)."""

from __future__ import annotations

import json
import os
import sys

from bench.stress.scenario import run

INVOICES = int(os.environ.get("STRESS_INVOICES", "300"))
CLIENTS = int(os.environ.get("STRESS_CLIENTS", "12"))
#: Examples printed per count (the JSON line has the counts).
EXAMPLES = 8


def main() -> int:
    report = run(INVOICES, CLIENTS, log=lambda line: print(line, file=sys.stderr, flush=True))
    for name, found in report.findings.found.items():
        if not found:
            continue
        print(f"{name}: {len(found)}", file=sys.stderr)
        for what in found[:EXAMPLES]:
            number = what.split(" ")[0].rstrip(":")
            kind = report.kind_of_number.get(number, "")
            print(f"  {what}" + (f"  [{kind}]" if kind else ""), file=sys.stderr)
    print(json.dumps(report.line()), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
