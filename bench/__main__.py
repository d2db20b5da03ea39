"""``python -m bench``: the month-end sync benchmark, the payments reconciliation one, the
billing run (``billing_run_2000``), then the pages one (``pages_20k``); ``python -m bench
NAME...`` runs only those named.

Each prints its figures and a JSON line; the last line printed is the last scenario's. The
exit status is non-zero when any found a wrong result (it then prints no figures)."""

import sys


def _month_end() -> int:
    from bench import month_end

    return month_end.main()


def _reconcile() -> int:
    from bench import reconcile

    return reconcile.main()


def _billing_run() -> int:
    from bench import billing_run

    return billing_run.main()


def _pages() -> int:
    from bench import pages

    return pages.main()


SCENARIOS = {
    "month_end_1000": _month_end,
    "reconcile_500": _reconcile,
    "billing_run_2000": _billing_run,
    "pages_20k": _pages,
}

names = sys.argv[1:] or list(SCENARIOS)
unknown = [name for name in names if name not in SCENARIOS]
if unknown:
    sys.exit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
statuses = [SCENARIOS[name]() for name in names]
sys.exit(max(statuses))
