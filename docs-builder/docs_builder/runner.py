"""MkDocs in its own process: a time limit, size limits and an environment without secrets.

Why a child process: the build parses untrusted Markdown with third-party extensions; a separate process
with its own resource limits can be killed on timeout and cannot see the portal's memory or environment
(only PATH, HOME set to a temp folder, and LANG are passed: no database passwords, no cloud keys).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from docs_builder.errors import DocsBuildError

# Runs in the child: limits first (file size, memory, no core files), then MkDocs' own command line.
_CHILD = """
import os, resource, sys
os.environ["NO_MKDOCS_2_WARNING"] = "1"   # mkdocs-material's banner about MkDocs 2.0, not about this build
fsize, memory = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.argv = ["mkdocs", "build", "--clean", "--config-file", sys.argv[3], "--site-dir", sys.argv[4]]
from mkdocs.__main__ import cli
cli()
"""
LOG_LIMIT = 64 * 1024


@dataclass(frozen=True)
class RunLimits:
    timeout: float = 180.0
    max_site_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 50 * 1024 * 1024
    max_memory_bytes: int = 3 * 1024 * 1024 * 1024


def scrubbed_env(home: Path) -> dict[str, str]:
    """Only what MkDocs needs; nothing from the portal's environment leaks into a user's build."""
    return {"PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8"}


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if len(data) > LOG_LIMIT:
        data = b"[... earlier output cut ...]\n" + data[-LOG_LIMIT:]
    return data.decode("utf-8", "replace")


def site_size(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())


def run_mkdocs(config_file: Path, site_dir: Path, work: Path, limits: RunLimits = RunLimits()) -> str:
    """Build; return MkDocs' output (the build log). DocsBuildError (with the log) when it fails."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    log_path = work / "mkdocs.log"
    args = [sys.executable, "-I", "-c", _CHILD, str(limits.max_file_bytes), str(limits.max_memory_bytes),
            str(config_file), str(site_dir)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=config_file.parent, env=scrubbed_env(home), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise DocsBuildError(f"MkDocs did not finish within {limits.timeout:.0f} s and was stopped",
                                 _tail(log_path)) from None
    text = _tail(log_path)
    if code != 0:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("ERROR", "Error", "Aborted", "Config value"))]
        reason = (errors or lines or [f"exit code {code}"])[-1]
        if code == -signal.SIGXFSZ or "File too large" in text:
            reason = f"a file of the site is larger than {limits.max_file_bytes // (1024 * 1024)} MiB"
        raise DocsBuildError(f"MkDocs failed: {reason}", text)
    size = site_size(site_dir)
    if size > limits.max_site_bytes:
        raise DocsBuildError(f"the built site is {size / 1048576:.1f} MiB, over the limit of "
                             f"{limits.max_site_bytes // 1048576} MiB", text)
    return text
