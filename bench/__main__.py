"""``python -m bench``: the month-end sync benchmark."""

import sys

from bench.month_end import main

sys.exit(main())
