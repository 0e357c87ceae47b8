"""Versioned SQL migrations for the PostGIS store (``app/store/migrations/NNN_name.sql``)."""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x45636F52  # "EcoR": serialises concurrent start-ups


def available() -> list[tuple[int, Path]]:
    out = []
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        out.append((int(p.name.split("_", 1)[0]), p))
    return out


def upgrade(conn: psycopg.Connection) -> list[int]:
    """Apply pending migrations, each in its own transaction; return the versions applied."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migration")}
        for version, path in available():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("INSERT INTO schema_migration (version, name) VALUES (%s, %s)", (version, path.name))
            applied.append(version)
    return applied


def current(conn: psycopg.Connection) -> int | None:
    if conn.execute("SELECT to_regclass('schema_migration')").fetchone()[0] is None:
        return None
    return conn.execute("SELECT max(version) FROM schema_migration").fetchone()[0]
