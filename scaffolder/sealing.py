"""A task's secrets travel from the portal to the worker sealed (Fernet, key derived from the portal's
secret key), so the broker (Redis) never holds them in clear; they are never written anywhere else.

The key comes from `TRELLIS_SECRET_KEY` (or the file named by `TRELLIS_SECRET_KEY_FILE`), which the portal
and the workers share; in development, without either, from `.trellis/secret-key` (made if missing, as the
portal does).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as random
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

REPO_ROOT = Path(__file__).resolve().parents[1]


class SealError(RuntimeError):
    """Secrets could not be sealed or opened (no shared key, or a different one)."""


def _key_material() -> str:
    value = os.environ.get("TRELLIS_SECRET_KEY")
    path = os.environ.get("TRELLIS_SECRET_KEY_FILE")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SealError(f"TRELLIS_SECRET_KEY_FILE={path}: {exc.strerror}") from None
    if value:
        return value
    key_file = REPO_ROOT / ".trellis" / "secret-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(random.token_hex(32))
    return key_file.read_text(encoding="utf-8").strip()


def _fernet():
    digest = hashlib.sha256(b"trellis-scaffolder-secrets\0" + _key_material().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(values: dict[str, str]) -> str | None:
    if not values:
        return None
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def unseal(token: str | None) -> dict[str, str]:
    if not token:
        return {}

    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SealError("this task's secrets cannot be opened: the worker's TRELLIS_SECRET_KEY differs from the "
                        "portal's") from None
