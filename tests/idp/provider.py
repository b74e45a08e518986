"""A real OIDC identity provider for the tests: Keycloak, started as a local process.

The server itself (provisioning from Maven Central, the shared distribution, the realm DB template, start and
stop) is servers.keycloak, dev/test infrastructure beside the local Neo4j, Redis and OpenSearch. This module
adds what is the tests': the ``trellis`` realm (``keycloak/realm-trellis.json``, the single source of truth for
the client and users), the :class:`Provider` handle the tests use, and a browser-like ``requests`` session.

Usable from any test, and as a CLI::

    python -m tests.idp.provider provision   # download + build + template, then exit
    python -m tests.idp.provider run         # start one, print its settings, wait for ^C
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import requests

from servers import keycloak
from servers.base import free_port
from servers.keycloak import ADMIN_PASSWORD, ADMIN_USERNAME, START_TIMEOUT, NoSuitableJava, java_home, \
    keycloak_version
from servers.keycloak import KeycloakError as ProviderError

__all__ = [
    "Provider",
    "NoSuitableJava",
    "ProviderError",
    "User",
    "browser_session",
    "free_port",
    "java_home",
    "keycloak_version",
    "provision",
    "start_provider",
]

HERE = Path(__file__).resolve().parent
REALM_JSON = HERE / "keycloak" / "realm-trellis.json"


@dataclass(frozen=True)
class User:
    """A test user of the realm (from ``realm-trellis.json``)."""

    username: str
    password: str
    email: str
    given_name: str
    family_name: str
    groups: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass
class Provider:
    """A running OpenID Provider. ``issuer`` is exactly the ``iss`` of its tokens."""

    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    users: dict[str, User]
    base_url: str  # http://127.0.0.1:<port>
    realm: str
    admin_username: str
    admin_password: str
    home: Path
    log_path: Path
    kind: str = "keycloak"
    version: str = ""
    startup_seconds: float = 0.0
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def discovery(self) -> dict:
        """The provider's ``.well-known/openid-configuration`` document."""
        with urllib.request.urlopen(self.discovery_url, timeout=10) as resp:
            return json.load(resp)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after servers.keycloak's STOP_TIMEOUT). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            keycloak.KeycloakServer.stop_process(proc)

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- user agent


#: Cookie domains of loopback hosts (http.cookiejar stores dotless "localhost" as "localhost.local").
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "localhost.local", "::1", "[::1]"})


def browser_session() -> requests.Session:
    """A ``requests.Session`` that keeps cookies the way a browser does towards the provider.

    Keycloak 26 marks its login cookies (AUTH_SESSION_ID, KC_RESTART, ...) ``Secure;
    SameSite=None`` even over plain http. Chromium and Firefox treat http://127.0.0.1 and
    http://localhost as secure contexts and send them back; Python's cookiejar does not,
    and Keycloak then answers the login-form POST with 400 "Restart login cookie not
    found" (event ``cookie_not_found``). This session's jar drops the ``Secure`` flag of
    cookies set by loopback hosts, so they are sent over http. (A custom CookiePolicy is
    not enough: requests copies cookies into a default-policy jar for every request.)
    Playwright browsers need nothing.
    """
    class _LoopbackJar(requests.cookies.RequestsCookieJar):
        def set_cookie(self, cookie, *args, **kwargs):  # noqa: ANN001
            if cookie.secure and cookie.domain.lstrip(".") in LOOPBACK_HOSTS:
                cookie.secure = False
            return super().set_cookie(cookie, *args, **kwargs)

    session = requests.Session()
    session.cookies = _LoopbackJar()
    return session


def _realm() -> dict:
    return json.loads(REALM_JSON.read_text())


def provision() -> tuple[Path, Path]:
    """Keycloak's distribution and the ``trellis`` realm's DB template (servers.keycloak.provision), each once."""
    return keycloak.provision(REALM_JSON)


# --------------------------------------------------------------------------- start


def start_provider(tmp_dir: Path, *, port: int | None = None, timeout: float = START_TIMEOUT) -> Provider:
    """Start a Keycloak with the ``trellis`` realm in ``tmp_dir``; return once discovery answers.

    Call :meth:`Provider.stop` when done (also registered with :mod:`atexit`).
    """
    t0 = time.monotonic()
    provision()
    home = Path(tmp_dir).resolve() / "keycloak-home"
    t1 = time.monotonic()
    proc, port = keycloak.start(home, REALM_JSON, port=port, timeout=timeout)
    realm = _realm()
    discovery_url = keycloak.discovery_url(port, realm["realm"])
    log_path = keycloak.KeycloakServer(home).log_path

    client = next(c for c in realm["clients"] if c["clientId"] == "trellis-portal")
    users = {
        u["username"]: User(
            username=u["username"],
            password=next(c["value"] for c in u["credentials"] if c["type"] == "password"),
            email=u["email"],
            given_name=u.get("firstName", ""),
            family_name=u.get("lastName", ""),
            groups=tuple(g.rsplit("/", 1)[-1] for g in u.get("groups", [])),
        )
        for u in realm["users"]
    }
    base_url = f"http://127.0.0.1:{port}"
    provider = Provider(
        issuer=f"{base_url}/realms/{realm['realm']}",
        discovery_url=discovery_url,
        client_id=client["clientId"],
        client_secret=client["secret"],
        users=users,
        base_url=base_url,
        realm=realm["realm"],
        admin_username=ADMIN_USERNAME,
        admin_password=ADMIN_PASSWORD,
        home=home,
        log_path=log_path,
        version=keycloak_version(),
        startup_seconds=round(time.monotonic() - t1, 1),
        _proc=proc,
    )
    atexit.register(provider.stop)
    if os.environ.get("TRELLIS_IDP_VERBOSE"):
        print(f"[idp] provision {t1 - t0:.1f}s, start {provider.startup_seconds}s", file=sys.stderr)
    return provider


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "run"
    if cmd == "provision":
        t0 = time.monotonic()
        dist, template = provision()
        print(f"Keycloak {keycloak_version()} at {dist}\nrealm template {template}\n({time.monotonic() - t0:.1f}s)")
        return 0
    if cmd == "run":
        with tempfile.TemporaryDirectory(prefix="trellis-idp-") as tmp, start_provider(Path(tmp)) as p:
            print(json.dumps({
                "issuer": p.issuer, "discovery_url": p.discovery_url, "client_id": p.client_id,
                "client_secret": p.client_secret, "users": {u.username: u.password for u in p.users.values()},
                "admin": f"{p.base_url}/admin ({p.admin_username}/{p.admin_password})",
                "startup_seconds": p.startup_seconds,
            }, indent=2), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    print("usage: python -m tests.idp.provider [provision|run]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
