"""Reading one file's bytes safely: size is checked with stat() before any read, then UTF-8 strictly.

A 50 MB file must be refused in milliseconds, and a file that grows between stat() and read() is still
cut off, so at most `max_file_bytes + 1` bytes are ever read.
"""
from __future__ import annotations

import stat
from pathlib import Path

from .limits import Limits


class FileProblem(Exception):
    """A file that cannot be used at all; the message is the rejection reason."""


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"


def read_bytes(path: Path, limits: Limits) -> bytes:
    """The file's bytes, refusing missing, non-regular and oversized files before reading them."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileProblem(f"file {path} does not exist") from None
    except OSError as exc:
        raise FileProblem(f"file {path} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FileProblem(f"{path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(f"{path} is not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise FileProblem(
            f"file is {_human_size(info.st_size)}, larger than the limit of "
            f"{_human_size(limits.max_file_bytes)}"
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except OSError as exc:
        raise FileProblem(f"file {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > limits.max_file_bytes:
        raise FileProblem(f"file is larger than the limit of {_human_size(limits.max_file_bytes)}")
    return data


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8 (a leading BOM is dropped); the error names the first bad byte offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"file is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"cannot be decoded"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: Path, limits: Limits) -> str:
    """`read_bytes` then `decode_utf8`."""
    return decode_utf8(read_bytes(path, limits))
