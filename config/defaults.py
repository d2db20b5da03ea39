# Default settings of the portal. Every name here can be overridden by an environment
# variable of the same name (see README "Configuration"); booleans accept 1/0, true/false.

# Signs sessions and derives the key that encrypts secrets at rest. Required outside demo mode.
SECRET_KEY = None
# Fernet key for secrets at rest (TOTP, tokens, API keys); derived from SECRET_KEY when unset.
ENCRYPTION_KEY = None
# SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db
DATABASE_URL = "sqlite:///instance/portal.db"
# Demo mode: SQLite, the built-in Xero sandbox, seeded data, a fixed development secret.
PORTAL_DEMO = False

# Invoices
INVOICE_PREFIX = "INV-"
DEFAULT_CURRENCY = "GBP"
DEFAULT_SALES_ACCOUNT = "200"
DEFAULT_PAYMENT_TERMS_DAYS = 14
# Babel locale used to format amounts and dates.
PORTAL_LOCALE = "en_GB"
# Rows per page on invoice lists.
PAGE_SIZE = 25

# Sign-in
REQUIRE_ADMIN_2FA = False
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_SECURE = True
REMEMBER_COOKIE_HTTPONLY = True
PERMANENT_SESSION_LIFETIME = 8 * 3600
# Number of reverse proxies in front of the portal whose X-Forwarded-* headers are trusted.
TRUSTED_PROXY_COUNT = 0

# CSRF tokens live as long as the session.
WTF_CSRF_TIME_LIMIT = None
