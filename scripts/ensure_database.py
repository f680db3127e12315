#!/usr/bin/env python
"""Creates the PostgreSQL database named by DATABASE_URL when it does not exist yet (idempotent)."""

import os
import sys
from pathlib import Path
from typing import Any

import environ
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
environ.Env.read_env(ROOT / ".env", overwrite=False)


def main() -> int:
    config = environ.Env.db_url_config(os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/notifier"))
    name = config["NAME"]
    params: dict[str, Any] = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 5,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            print(f"database {name!r} exists")
            return 0
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"database {name!r} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
