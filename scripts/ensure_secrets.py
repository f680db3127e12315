#!/usr/bin/env python
"""Writes fresh random DJANGO_SECRET_KEY and JWT_SECRET into .env (git-ignored) when it has none.

`make run` calls it first, so a fresh clone needs no settings and still runs with secrets nobody else
knows; later runs keep the ones written (tokens and sessions survive a restart). A value set in .env by
hand is never replaced. Uses only the standard library: it runs before anything else is set up.
"""

import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"DJANGO_SECRET_KEY": 50, "JWT_SECRET": 48}


def _names_set(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", text, re.M)}


def main() -> int:
    env_file = Path(os.environ.get("NOTIFIER_ENV_FILE", ROOT / ".env"))
    text = env_file.read_text() if env_file.exists() else ""
    missing = [name for name in SECRETS if name not in _names_set(text)]
    if not missing:
        return 0
    lines = [f"{name}={secrets.token_urlsafe(SECRETS[name])}" for name in missing]
    prefix = "" if not text or text.endswith("\n") else "\n"
    header = "# Written by `make run` (scripts/ensure_secrets.py): random secrets of this installation.\n"
    with env_file.open("a") as handle:
        handle.write(prefix + header + "\n".join(lines) + "\n")
    env_file.chmod(0o600)
    print(f"wrote fresh {', '.join(missing)} to {env_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
