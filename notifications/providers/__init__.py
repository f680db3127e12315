"""Providers: one module per provider, each behind its channel's interface (base.py), chosen by import
strings in settings (EMAIL_PROVIDERS, PUSH_PROVIDERS; registry.py), each with a circuit breaker of its own
(breakers.py)."""
