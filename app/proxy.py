"""The client address behind a configured number of trusted reverse proxies.

Why: the sign-in throttle and the audit log key on the client address. Behind a proxy every request comes
from the proxy, so everyone would share one throttle bucket (one guesser locks everybody out) and the audit
log would name the proxy. Trusting `X-Forwarded-For` blindly is worse: any client could claim any address.
`trusted_proxy_hops: N` (config file) or `TRELLIS_TRUSTED_PROXY_HOPS` says how many proxies in front of the
portal append to `X-Forwarded-For`; the address the N-th one from the end saw is the client (werkzeug's
ProxyFix, `x_for=N`). Entries further left were written by the client and are ignored. 0 (the default):
the header is ignored and the TCP peer is the client. Only the address is taken from the proxy; the scheme
and host are not (gunicorn already honours X-Forwarded-Proto from its `forwarded_allow_ips`).
"""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

MAX_HOPS = 10


def init_proxy(app: Flask) -> None:
    """Wrap the WSGI app so `request.remote_addr` is the client behind the trusted hops (once per app)."""
    hops = int(app.config.get("TRELLIS_TRUSTED_PROXY_HOPS") or 0)
    if hops and not isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)
