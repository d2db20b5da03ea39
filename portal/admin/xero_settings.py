"""(being written)"""

from portal.admin import bp  # noqa: F401
