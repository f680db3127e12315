"""The broker seen from the application: one way to open a connection, one tuple of its errors."""
