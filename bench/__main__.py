"""``python -m bench``: the month-end sync benchmark, then the payments reconciliation one.

Each prints its figures and a JSON line; the last line printed is reconcile_500's. The exit
status is non-zero when either found a wrong result (it then prints no figures)."""

import sys

from bench import month_end, reconcile

month_end_status = month_end.main()
reconcile_status = reconcile.main()
sys.exit(month_end_status or reconcile_status)
