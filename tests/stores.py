"""Store URLs for tests: SQLite in a temporary folder, and the machine's PostgreSQL.

PostgreSQL tests skip with a message when no server answers, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get("VITDMG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HOW_TO = (
    "PostgreSQL is not reachable at {url}: start it (pg_ctlcluster --skip-systemctl-redirect "
    "$(ls /etc/postgresql) main start) or point VITDMG_TEST_POSTGRES_URL at one"
)


def postgres_or_skip() -> str:
    """A clean PostgreSQL database (our tables dropped), or skip (fail under CI)."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS feedback, issued_card, seen_token, alembic_version CASCADE"))
    except OperationalError:
        message = HOW_TO.format(url=POSTGRES_URL)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return POSTGRES_URL


def store_url(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}" if kind == "sqlite" else postgres_or_skip()
