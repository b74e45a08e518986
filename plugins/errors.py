"""Errors shared by the door's own modules (plugins.http) and plugins.api, which re-exports them.

Kept apart so plugins.http can raise them without importing plugins.api (which re-exports plugins.http).
"""
from __future__ import annotations

class RetryableError(RuntimeError):
    """A transient failure (provider 5xx, rate limit, network): the job framework retries the run later.

    `retry_after` (seconds) is the provider's own hint, e.g. from a rate-limit reset header; the job waits
    at least that long (else its exponential backoff). Nothing has been deleted when this is raised.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
