"""Paths, URLs and helpers that tests share. A test module imports them from here, never from a
conftest (which pytest loads as a plugin of its own: importing it again runs it twice)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["POSTGRES_ADMIN_URL", "ROOT", "SAMPLE_FAQ", "free_port"]

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FAQ = ROOT / "examples" / "faq.csv"
POSTGRES_ADMIN_URL = os.environ.get(
    "SUPPORTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A TCP port nobody listens on at the moment (bound and released on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
