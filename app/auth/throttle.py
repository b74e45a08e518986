"""Sign-in rate limiting: failures in a sliding window per (username, client address), per username across
all addresses, and per client address.

Why three keys: a strict limit per username alone is a lockout anyone can trigger (five wrong passwords from
anywhere and the real owner cannot sign in). The strict limit (`username`, 5) therefore counts one username
*from one address*; the guesser's own address is what it locks. A much higher ceiling per username across
every address (`username_total`, 100) still stops a distributed guess, and the per-address limit (`ip`, 30)
stops one address trying many usernames. The client address is the one behind the configured trusted proxy
hops (`trusted_proxy_hops`, see app/proxy.py), so people behind one proxy do not share a bucket and a forged
X-Forwarded-For changes nothing.

Counts live in Neo4j (graph.throttle) so every worker process enforces the same limit. Each attempt is counted
before its password is checked (check and count are one transaction); a locked-out key answers 429 with
Retry-After until enough failures leave the window. A successful sign-in clears its (username, address)
counter and gives back only its own attempt on the other keys (one good password must not reset a guessing
campaign). Failed OIDC/GitHub callbacks count per address too (`begin_callback`), with the `ip` limit.
Configured under `auth.throttle` ({username: 5, username_total: 100, ip: 30, window_seconds: 300}).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from graph import throttle as store
from graph.driver import Graph


@dataclass(frozen=True)
class Limits:
    username: int = 5              # one username from one client address
    ip: int = 30                   # one client address, any username (and failed provider callbacks)
    window_seconds: int = 300
    username_total: int = 100      # one username from all addresses together

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @classmethod
    def from_config(cls, value: object) -> "Limits":
        """Validate `auth.throttle`; ValueError with the offending key."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise ValueError("auth.throttle must be a mapping: "
                             "{username: 5, username_total: 100, ip: 30, window_seconds: 300}")
        unknown = set(value) - {"username", "username_total", "ip", "window_seconds"}
        if unknown:
            raise ValueError(f"auth.throttle: unknown keys {sorted(unknown)}")
        out = {}
        for key, val in value.items():
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"auth.throttle.{key} must be a positive integer, got {val!r}")
            out[key] = val
        limits = cls(**out)
        if limits.username_total < limits.username:
            raise ValueError("auth.throttle.username_total must be at least auth.throttle.username")
        return limits


@dataclass(frozen=True)
class Throttled:
    """A refusal: which key is locked and for how many more seconds."""

    scope: str            # "username", "username_total", "ip" or "callback"
    retry_after: int      # seconds

    @property
    def message(self) -> str:
        who = {"username": "this username from your network address", "username_total": "this username",
               "callback": "sign-ins from your network address"}.get(self.scope, "your network address")
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (f"Too many failed sign-in attempts for {who}. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.")


def _name(username: str) -> str:
    return (username or "").strip().lower()[:128]


def _user_key(username: str) -> str:
    return "user:" + _name(username)


def _ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


def _user_ip_key(username: str, ip: str | None) -> str:
    return f"userip:{ip or 'unknown'}|{_name(username)}"


def _callback_key(ip: str | None) -> str:
    return "callback:" + (ip or "unknown")


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
    keys = {_user_ip_key(username, ip): ("username", limits.username),
            _user_key(username): ("username_total", limits.username_total),
            _ip_key(ip): ("ip", limits.ip)}
    return _reserve(graph, limits, keys, Attempt(username, ip, 0))


def _reserve(graph: Graph, limits: Limits, keys: dict[str, tuple[str, int]], attempt: Attempt
             ) -> Attempt | Throttled:
    now = store.now_ms()
    reserved, seen = store.reserve(graph, {key: limit for key, (_, limit) in keys.items()},
                                   limits.window_ms, now=now)
    if reserved:
        return Attempt(attempt.username, attempt.ip, now)
    worst: Throttled | None = None
    for key, (scope, limit) in keys.items():
        wait = retry_after(seen.get(key, []), limit, limits.window_ms, now)
        if wait is not None and (worst is None or wait > worst.retry_after):
            worst = Throttled(scope, wait)
    return worst or Throttled(next(iter(keys.values()))[0], 1)


def succeeded(graph: Graph, attempt: Attempt) -> None:
    """The password was right: clear this (username, address) counter, give the other keys this attempt back."""
    store.clear(graph, _user_ip_key(attempt.username, attempt.ip))
    store.release(graph, _user_key(attempt.username), attempt.at)
    store.release(graph, _ip_key(attempt.ip), attempt.at)


def begin_callback(graph: Graph, limits: Limits, ip: str | None) -> Attempt | Throttled:
    """Count an OIDC/GitHub callback before it is redeemed; a callback that signs someone in gives it back."""
    return _reserve(graph, limits, {_callback_key(ip): ("callback", limits.ip)}, Attempt("", ip, 0))


def callback_succeeded(graph: Graph, attempt: Attempt) -> None:
    store.release(graph, _callback_key(attempt.ip), attempt.at)
