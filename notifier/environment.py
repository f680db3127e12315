"""The one environment reader; `.env` at the project root is read when present (real variables win).

Outside the settings package, so the gunicorn configuration and the Makefile can read a variable without
loading (and checking) every setting.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
