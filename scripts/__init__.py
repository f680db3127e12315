"""Setup scripts `make` runs; also importable (the test stand-ins use ensure_vapid_keys)."""
