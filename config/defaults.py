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
# Test invoices of the trial run (Settings > Test the payment chain) are numbered apart.
TEST_INVOICE_PREFIX = "TEST-"
DEFAULT_CURRENCY = "GBP"
DEFAULT_SALES_ACCOUNT = "200"
DEFAULT_PAYMENT_TERMS_DAYS = 14
# Babel locale used to format amounts and dates.
PORTAL_LOCALE = "en_GB"
# Rows per page on invoice lists.
PAGE_SIZE = 25

# Largest request body read, in bytes (chunked or not); more is refused with 413.
# The webhooks allow less (Stripe 512 KiB, Xero 256 KiB).
MAX_CONTENT_LENGTH = 1024 * 1024

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
# How long an admin-made invitation link (set a password, sign in once) stays valid.
INVITATION_LINK_HOURS = 72

# CSRF tokens live as long as the session.
WTF_CSRF_TIME_LIMIT = None

# Xero (see README "Connecting Xero"). Leave XERO_BASE_URL empty for the real Xero.
XERO_CLIENT_ID = ""
XERO_CLIENT_SECRET = ""
# Where Xero sends the admin back after consent; empty: this portal's /admin/xero/callback.
XERO_REDIRECT_URI = ""
# Base URL of a Xero stand-in (the built-in sandbox); empty means Xero itself.
XERO_BASE_URL = ""
# Demo mode starts the built-in Xero sandbox on this port, already connected.
XERO_SANDBOX_PORT = 5001
# Demo mode runs the sync worker in a thread of the web process (production: `flask xero worker`).
XERO_WORKER_THREAD = False
# Seconds the worker waits when nothing is due.
XERO_WORKER_INTERVAL = 2
# Days the sync log keeps jobs that reached Xero; the worker then deletes them (stopped
# jobs stay until an admin retries or ignores them; the audit log is kept).
SYNC_LOG_RETENTION_DAYS = 90
# Day of the month (1 to 28) on which monthly, quarterly and yearly plans' periods begin.
BILLING_DAY = 1
# The worker bills every membership period whose billing date has come, once a day at
# BILLING_HOUR (0 to 23, UTC). False leaves billing runs to the admin's billing-run page and
# `flask billing run`.
BILLING_AUTOMATIC = True
BILLING_HOUR = 6

# Card payments with Stripe (see README "Card payments"). Keys saved on the admin's payment
# settings page win; these are the fallbacks, typically set from the environment.
STRIPE_PUBLISHABLE_KEY = ""
STRIPE_SECRET_KEY = ""
# Signing secret of the endpoint Stripe calls (/webhooks/stripe), whsec_...
STRIPE_WEBHOOK_SECRET = ""
# Base URL of a Stripe stand-in (localstripe in tests); empty means Stripe itself.
STRIPE_API_BASE = ""
# Where the pay page loads Stripe.js from (localstripe serves a stand-in at /js.stripe.com/v3/).
STRIPE_JS_URL = "https://js.stripe.com/v3/"
# Xero's webhook signing key (developer.xero.com > your app > Webhooks); events posted to
# /webhooks/xero are refused (401) while it is empty.
XERO_WEBHOOK_KEY = ""
