"""Single flight: at most one fine-tune at a time across all workers sharing a database.

PostgreSQL: a session-level advisory lock held on a dedicated connection. SQLite (one machine): an
exclusive ``flock`` on a file beside the database. Both are released by the operating system or the
server when the holder dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

LOCK_NAME = "supportbot.finetune"


@contextlib.contextmanager
def single_flight(database_url: str, name: str = LOCK_NAME) -> Iterator[bool]:
    """Yields True when this process holds the lock, False when another one does (never waits)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        key = zlib.crc32(name.encode())  # advisory locks take a bigint key
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        engine.dispose()
        return
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).with_suffix(f".{name}.lock")
    else:  # another server database: fall back to a lock file in the working directory
        path = Path(f".{name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
