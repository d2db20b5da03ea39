# gunicorn reads this file when started from the repository: the portal's production
# settings (portal/gunicorn_conf.py, also usable as `-c python:portal.gunicorn_conf`).
from portal.gunicorn_conf import *  # noqa: F403
