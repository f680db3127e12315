#!/usr/bin/env python
"""Writes a fresh VAPID key pair (Web Push) into .env when it has none, as ensure_secrets.py does for the
signing keys: `make run` calls it, so a fresh clone can push to browsers with a key nobody else holds. A
pair set by hand is never replaced. The private key is written as base64url DER (what py_vapid reads),
the public key as base64url of the uncompressed point (what browsers take as applicationServerKey)."""

import os
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.utils import b64urlencode

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("WEB_PUSH_VAPID_PRIVATE_KEY", "WEB_PUSH_VAPID_PUBLIC_KEY")


def vapid_key_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64urlencode(private), b64urlencode(public)


def main() -> int:
    env_file = Path(os.environ.get("NOTIFIER_ENV_FILE", ROOT / ".env"))
    text = env_file.read_text() if env_file.exists() else ""
    present = {m.group(1) for m in re.finditer(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", text, re.M)}
    if any(name in present for name in NAMES) or any(os.environ.get(name) for name in NAMES):
        return 0
    private, public = vapid_key_pair()
    prefix = "" if not text or text.endswith("\n") else "\n"
    with env_file.open("a") as handle:
        handle.write(
            f"{prefix}# Written by `make run` (scripts/ensure_vapid_keys.py): this installation's Web Push "
            "key pair.\n"
            f"WEB_PUSH_VAPID_PRIVATE_KEY={private}\nWEB_PUSH_VAPID_PUBLIC_KEY={public}\n"
        )
    env_file.chmod(0o600)
    print(f"wrote a fresh Web Push (VAPID) key pair to {env_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
