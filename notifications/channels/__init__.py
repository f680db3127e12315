"""One small adapter per provider kind, each behind the same narrow interface (see base.py)."""
