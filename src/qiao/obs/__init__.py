"""Observability: logging (JSON, redacted) and metrics."""
