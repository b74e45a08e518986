"""Only the GitHub webhook's re-ingest (webhooks.py) is left here; it moves to plugins/builtin/github with the
webhook handler. Every provider lives in plugins/builtin/<name>/ (get, transform, provider)."""
