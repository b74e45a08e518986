"""Sign-in rate limiting: failures per username and per client address in a sliding window.

Counts live in Neo4j (graph.throttle) so every worker process enforces the same limit. Each attempt is counted
before its password is checked (check and count are one transaction); a locked-out key answers 429 with
Retry-After until enough failures leave the window. A successful sign-in clears that username's counter and
gives back only its own attempt on the address (one good password must not reset a guessing campaign).
Configured under `auth.throttle` ({username: 5, ip: 30, window_seconds: 300}).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from graph import throttle as store
from graph.driver import Graph


@dataclass(frozen=True)
class Limits:
    username: int = 5
    ip: int = 30
    window_seconds: int = 300

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @classmethod
    def from_config(cls, value: object) -> "Limits":
        """Validate `auth.throttle`; ValueError with the offending key."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise ValueError("auth.throttle must be a mapping: {username: 5, ip: 30, window_seconds: 300}")
        unknown = set(value) - {"username", "ip", "window_seconds"}
        if unknown:
            raise ValueError(f"auth.throttle: unknown keys {sorted(unknown)}")
        out = {}
        for key, val in value.items():
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"auth.throttle.{key} must be a positive integer, got {val!r}")
            out[key] = val
        return cls(**out)


@dataclass(frozen=True)
class Throttled:
    """A refusal: which key is locked and for how many more seconds."""

    scope: str            # "username" or "ip"
    retry_after: int      # seconds

    @property
    def message(self) -> str:
        who = "this username" if self.scope == "username" else "your network address"
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (f"Too many failed sign-in attempts for {who}. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.")


def _user_key(username: str) -> str:
    return "user:" + (username or "").strip().lower()[:128]


def _ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


def retry_after(failure_times: list[int], limit: int, window_ms: int, now: int) -> int | None:
    """Seconds until the key drops below `limit`, or None when it is not locked (pure: unit-tested)."""
    recent = sorted(t for t in failure_times if t > now - window_ms)
    if len(recent) < limit:
        return None
    # The key unlocks when enough failures age out to leave limit-1 in the window.
    unlock_at = recent[len(recent) - limit] + window_ms
    return max(1, math.ceil((unlock_at - now) / 1000))


@dataclass(frozen=True)
class Attempt:
    """A counted sign-in attempt: it stays a failure unless `succeeded` gives it back."""

    username: str
    ip: str | None
    at: int


def begin(graph: Graph, limits: Limits, username: str, ip: str | None) -> Attempt | Throttled:
    """Count this attempt before the password is looked at (atomically with the check), or refuse it.

    Counting first means parallel guesses cannot all pass the check before any of them is recorded.
    A refused attempt is not counted, so a locked-out key unlocks on time even under steady guessing.
    """
    now = store.now_ms()
    keys = {_user_key(username): ("username", limits.username), _ip_key(ip): ("ip", limits.ip)}
    reserved, seen = store.reserve(graph, {key: limit for key, (_, limit) in keys.items()},
                                   limits.window_ms, now=now)
    if reserved:
        return Attempt(username, ip, now)
    worst: Throttled | None = None
    for key, (scope, limit) in keys.items():
        wait = retry_after(seen.get(key, []), limit, limits.window_ms, now)
        if wait is not None and (worst is None or wait > worst.retry_after):
            worst = Throttled(scope, wait)
    return worst or Throttled("username", 1)


def succeeded(graph: Graph, attempt: Attempt) -> None:
    """The password was right: clear the username's counter and give the address its attempt back."""
    store.clear(graph, _user_key(attempt.username))
    store.release(graph, _ip_key(attempt.ip), attempt.at)
