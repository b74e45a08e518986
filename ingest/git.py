"""Git sources: shallow clones of repositories named by URL, kept in a cache and refreshed incrementally.

Every clone follows the outbound policy (ingest.integrations): a network URL must be on a configured
integration host (refused before anything is contacted otherwise), and git runs with none of the server's
own git configuration (no system or global config, so no credential helpers, `insteadOf` rewrites or
`core.sshCommand`), with only the one transport the URL needs, without following HTTP redirects, and with
the integration's own token (if it names one) offered to that integration's origin only. Local paths and
`file://` URLs are cloned only when the caller allows local sources (the CLI and configured sources).

Clones are capped in size (bytes on disk, watched while git runs) and time (`git:` in TRELLIS_CONFIG,
default 500 MB and 300 s); a clone over a cap is stopped and its directory removed. A user sees one sentence
for every network failure (refused, closed port, timeout, unknown host read the same); git's own message
goes to the server log.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

from servers.base import file_lock
from ingest.cache import cache_root
from ingest.integrations import (
    GIT_USERNAMES, UNREACHABLE, GitLimits, Integration, Integrations, OutboundRefused, check_url,
    load_integrations, normalise_url, origin_of,
)
from plugins.api import redact
from plugins.api import MissingSecret, secret

log = logging.getLogger(__name__)
_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:", re.I)
_POLL = 0.1   # seconds between size checks while git runs
# A credential helper that answers only for the integration's own origin (git passes protocol and host).
_HELPER = ('!f() { test "$1" = get || exit 0; p=; h=; while IFS== read -r k v; do case "$k" in '
           'protocol) p="$v";; host) h="$v";; esac; done; '
           'if [ "$p://$h" = "$TRELLIS_GIT_ORIGIN" ]; then echo "username=$TRELLIS_GIT_USERNAME"; '
           'echo "password=$TRELLIS_GIT_PASSWORD"; fi; }; f')


class GitError(RuntimeError):
    """A repository could not be cloned or fetched."""


class GitRefused(GitError):
    """The outbound policy refuses this URL (nothing was contacted)."""


def is_git_url(target: str) -> bool:
    """URLs (https, ssh, git, file, scp-like `git@host:org/repo`) and local bare repositories are cloned."""
    if _URL.match(target):
        return True
    return is_local_bare(target)


def is_local_bare(target: str) -> bool:
    """A bare repository on this server's disk (a path, not a URL)."""
    path = Path(target)
    try:
        return path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir() \
            and not (path / ".git").exists()
    except OSError:
        return False


def is_remote_url(target: str) -> bool:
    """A network git URL (https, ssh, git, scp-like); `file://` and local paths are not remote."""
    return bool(_URL.match(target)) and not target.lower().startswith("file:")


def cache_dir() -> Path:
    return cache_root() / "git"


def _settings(integrations: Integrations | None) -> Integrations:
    if integrations is not None:
        return integrations
    try:
        return load_integrations()
    except Exception as exc:   # an unreadable config file refuses every network clone, with the reason
        raise GitRefused(f"the integrations configuration cannot be read: {exc}") from None


def check_clone(url: str, integrations: Integrations | None = None, *, allow_local: bool = True) -> Integration | None:
    """The integration a clone of `url` goes through (None for an allowed local source); GitRefused otherwise."""
    integrations = _settings(integrations)
    if not is_remote_url(url):
        if not allow_local:
            raise GitRefused(f"{url} is a repository on this server's disk; only repositories on configured "
                             f"integration hosts may be read here")
        return None
    try:
        return check_url(url, integrations)
    except OutboundRefused as exc:
        raise GitRefused(str(exc)) from None


def checkout(url: str, *, cache: Path | None = None, timeout: float | None = None,
             integrations: Integrations | None = None, allow_local: bool = True) -> Path:
    """A working tree of the repository's default branch, cloned shallow or fast-forwarded if cached.

    The per-repository lock is held while git runs only; `checked_out` holds it while the caller reads too.
    """
    with checked_out(url, cache=cache, timeout=timeout, integrations=integrations,
                     allow_local=allow_local) as path:
        return path


@contextlib.contextmanager
def checked_out(url: str, *, cache: Path | None = None, timeout: float | None = None,
                integrations: Integrations | None = None, allow_local: bool = True) -> Iterator[Path]:
    """`checkout`, holding the repository's lock until the block ends (no other run resets it meanwhile)."""
    integrations = _settings(integrations)
    if is_remote_url(url):
        url = normalise_url(url)
    entry = check_clone(url, integrations, allow_local=allow_local)
    limits = integrations.git
    if timeout is not None:
        limits = GitLimits(limits.max_clone_bytes, min(limits.clone_timeout, timeout))
    cache = cache or cache_dir()
    dest = cache / hashlib.sha256(url.encode()).hexdigest()[:20]
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache_root() / "locks" / f"git-{dest.name}.lock"):
        env, config = _environment(url, entry)
        if (dest / ".git").is_dir():
            try:
                _git(["fetch", "--depth", "1", "--quiet", "origin", "HEAD"], dest, env, config, limits, url)
                _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], dest, env, config, limits, url)
            except GitError:
                if dest.exists() and _size(dest) > limits.max_clone_bytes:
                    shutil.rmtree(dest, ignore_errors=True)   # grew past the cap: nothing oversized stays
                raise
        else:
            tmp = dest.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                _git(["clone", "--depth", "1", "--quiet", "--no-tags", "--template=", "--", url, str(tmp)],
                     cache, env, config, limits, url, watch=tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            tmp.rename(dest)
        yield dest


def _environment(url: str, entry: Integration | None) -> tuple[dict[str, str], list[str]]:
    """git's environment and `-c` options: nothing of the server's own git setup, one transport only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "TRELLIS_SECRET_")) and k != "SSH_ASKPASS"}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_SSH_COMMAND="ssh -o BatchMode=yes")
    config = ["credential.helper=", "http.followRedirects=false", "core.hooksPath=/dev/null",
              "protocol.allow=never", "core.askPass="]
    if entry is None:   # a local source the caller allowed
        env["GIT_ALLOW_PROTOCOL"] = "file"
        config.append("protocol.file.allow=always")
        return env, config
    origin = origin_of(url)
    env["GIT_ALLOW_PROTOCOL"] = origin.scheme
    config.append(f"protocol.{origin.scheme}.allow=always")
    if origin.scheme == "ssh":   # the server's SSH identity: the operator's credential for this host only
        return env, config
    if entry.token_secret_name:
        try:
            token = secret(entry.token_secret_name)
        except MissingSecret:
            log.warning("integration %s names secret %r, which is not set: cloning anonymously",
                        entry.host, entry.token_secret_name)
        else:
            env.update(TRELLIS_GIT_ORIGIN=f"{origin.scheme}://{origin.netloc}", TRELLIS_GIT_PASSWORD=token,
                       TRELLIS_GIT_USERNAME=entry.username or GIT_USERNAMES.get(entry.kind, "token"))
            config.append(f"credential.helper={_HELPER}")
    return env, config


def _size(path: Path) -> int:
    """Bytes under `path` (files only; links are not followed)."""
    total = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _git(args: list[str], cwd: Path, env: dict, config: list[str], limits: GitLimits, url: str,
         watch: Path | None = None) -> None:
    """Run git with the caps: stopped (its whole process group) when `watch` (default `cwd`) grows past
    the size cap or the time cap passes."""
    watch = watch or cwd
    command = ["git", *(part for option in config for part in ("-c", option)), *args]
    deadline = time.monotonic() + limits.clone_timeout
    reason = None
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    reason = f"took longer than {limits.clone_timeout:.0f} s"
                elif watch.exists() and _size(watch) > limits.max_clone_bytes:
                    reason = f"is larger than {limits.max_clone_bytes / (1024 * 1024):g} MB"
                if reason:
                    break
                time.sleep(_POLL)
        finally:
            if proc.poll() is None:
                _kill(proc)
        # A fast git (a local or nearby host) can finish between two polls: the cap holds for what it wrote.
        if reason is None and watch.exists() and _size(watch) > limits.max_clone_bytes:
            reason = f"is larger than {limits.max_clone_bytes / (1024 * 1024):g} MB"
        errors.seek(0)
        stderr = errors.read(64 * 1024).decode(errors="replace")
    if reason:
        raise GitError(f"git {args[0]} of {url} was stopped: the repository {reason} (limits: `git:` in "
                       f"TRELLIS_CONFIG)")
    if proc.returncode != 0:
        log.warning("git %s of %s failed (exit %s): %s", args[0], redact(url), proc.returncode,
                    redact(stderr.strip())[-2000:])
        raise GitError(f"{url} {UNREACHABLE}")


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)
