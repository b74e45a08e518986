"""Password hashing with scrypt (stdlib) and the password policy.

Encoded form: `scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>` (standard base64, 16-byte random salt, 32-byte
key). The parameters travel with the hash, so raising them later keeps old hashes verifiable (`needs_rehash`
tells when to re-hash at the next successful sign-in).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

N, R, P = 2**15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 12, 1024

# Bounds accepted when verifying, so a forged or corrupted hash cannot make one check take minutes or gigabytes:
# at most 256 MiB of memory and 16 times today's work.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16
_MAX_MEMORY, _MAX_WORK = 256 * 1024 * 1024, 16 * N * R * P


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs 128*r*n bytes for V plus 128*r*p for B; OpenSSL's default cap (32 MiB) is exactly
    # 128*8*2**15, which it rejects, so leave headroom.
    return 128 * r * (n + p) + 16 * 1024 * 1024


def _kdf(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=_maxmem(n, r, p))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A fresh scrypt hash of `password` (new random salt each call)."""
    if not isinstance(password, str):
        raise TypeError("password must be a string")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _kdf(password.encode("utf-8"), salt, N, R, P, KEY_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def _decode(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    if not isinstance(encoded, str):
        return None
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if 128 * n * r > _MAX_MEMORY or n * r * p > _MAX_WORK:
        return None
    if not salt or not (16 <= len(key) <= 64):
        return None
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; False on a mismatch or a malformed/unsupported hash."""
    if not isinstance(password, str):
        return False
    decoded = _decode(encoded)
    if decoded is None:
        return False
    n, r, p, salt, key = decoded
    try:
        candidate = _kdf(password.encode("utf-8"), salt, n, r, p, len(key))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, key)


def needs_rehash(encoded: str) -> bool:
    """True when `encoded` was made with other parameters than the current ones (or cannot be read)."""
    decoded = _decode(encoded)
    return decoded is None or decoded[:3] != (N, R, P) or len(decoded[4]) != KEY_BYTES


def check_password_policy(password: str) -> None:
    """Raise ValueError (with a message fit for a person) when `password` is not acceptable."""
    if not isinstance(password, str):
        raise ValueError("password must be text")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"password must be at most {MAX_LENGTH} characters long")
    if len(set(password)) == 1:
        raise ValueError("password must not be one character repeated")
