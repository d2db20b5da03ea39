"""Operations on logins that must hold with two connections at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from billing.logins import claim_sessions_version
from billing.users import Role, User, create_user
from portal import migrations
from portal.db import make_engine
from tests.factories import domain_session


def test_one_link_claimed_twice_at_once_is_claimed_once(fresh_database_url):
    url = fresh_database_url("logins")
    migrations.upgrade(url)
    engine = make_engine(url) if url.startswith("sqlite") else make_engine(url, pool_size=4)
    try:
        with domain_session(engine) as db, db.begin():
            user = create_user(
                db, email="m@example.com", name="M", password="p" * 12, role=Role.ADMIN
            )
            user_id, version = user.id, user.session_version
        start = threading.Barrier(2)

        def claim(_: int) -> bool:
            # Both read the login first, as two requests would. (SQLite's write lock is
            # taken at the first read, so there the second simply waits its turn.)
            start.wait()
            with domain_session(engine) as db:
                user = db.get(User, user_id)
                won = claim_sessions_version(db, user, version)
                db.commit()
                return won

        with ThreadPoolExecutor(2) as pool:
            assert sorted(pool.map(claim, [0, 1])) == [False, True]
        with domain_session(engine) as db:
            assert db.get(User, user_id).session_version == version + 1
    finally:
        engine.dispose()
