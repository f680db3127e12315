"""The environment reader of the settings (see notifier.environment)."""

from notifier.environment import BASE_DIR, env

__all__ = ["BASE_DIR", "env"]
