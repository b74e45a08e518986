"""Security headers on every response: a strict Content-Security-Policy and friends.

The portal's pages load scripts and styles only from itself (no inline scripts or style attributes), so the
policy can forbid everything else; TechDocs pages may embed iframes from an allow-list (TRELLIS_FRAME_SOURCES).
"""
from __future__ import annotations

from flask import Flask, request


# The one inline stylesheet allowed: the container rule Cytoscape.js (3.34.4, package-lock.json) injects for
# the graph tab. Pinned by hash, so any other injected style is still refused.
CYTOSCAPE_STYLESHEET = "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"


def add_security_headers(app: Flask) -> None:
    frames = " ".join(app.config.get("TRELLIS_FRAME_SOURCES") or []) or "'none'"
    csp = (
        f"default-src 'self'; script-src 'self'; style-src 'self' {CYTOSCAPE_STYLESHEET}; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self'; frame-src {frames}; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", csp)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/") or "Set-Cookie" in h:
            h.setdefault("Cache-Control", "no-store")
        return response
