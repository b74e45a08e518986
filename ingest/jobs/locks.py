"""At most one run per source: a Redis key holding the run id, with a timeout so a lost holder frees it.

The key is taken when a run is queued (so a second trigger is skipped instead of queued twice) and checked
again when the task starts. The holder's own run id always gets through: a task redelivered after its
worker died (late acknowledgement) continues the same run instead of being skipped by its own lock.
"""
from __future__ import annotations

import os

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def lock_ttl() -> int:
    """Seconds a source lock lives without its holder finishing (`TRELLIS_SOURCE_LOCK_TTL`, default 2 h)."""
    return int(os.environ.get("TRELLIS_SOURCE_LOCK_TTL") or 7200)


class SourceLock:
    def __init__(self, client, *, ttl: int | None = None, prefix: str = "trellis:source-lock:") -> None:
        self.client, self.ttl, self.prefix = client, ttl or lock_ttl(), prefix

    def key(self, source: str) -> str:
        return self.prefix + source

    def acquire(self, source: str, run_id: str) -> str | None:
        """Take the lock for `run_id`; returns None on success, else the run id holding it."""
        key = self.key(source)
        if self.client.set(key, run_id, nx=True, ex=self.ttl):
            return None
        holder = self.client.get(key)
        holder = holder.decode() if isinstance(holder, bytes) else holder
        if holder == run_id:   # our own run (queued by a trigger, or redelivered): refresh and go on
            self.client.set(key, run_id, xx=True, ex=self.ttl)
            return None
        if holder is None:     # expired between the two calls: try once more
            return None if self.client.set(key, run_id, nx=True, ex=self.ttl) else (self.holder(source) or "?")
        return holder

    def holder(self, source: str) -> str | None:
        value = self.client.get(self.key(source))
        return value.decode() if isinstance(value, bytes) else value

    def release(self, source: str, run_id: str) -> bool:
        """Free the lock if `run_id` still holds it (never someone else's)."""
        return bool(self.client.eval(_RELEASE, 1, self.key(source), run_id))
