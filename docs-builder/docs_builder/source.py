"""Where an entity's docs live: Backstage's `backstage.io/techdocs-ref` annotation -> a local folder.

`dir:<path>` is relative to the descriptor file (its stored `backstage.io/managed-by-location: file:<abs>`)
and may not leave the location it was ingested from (or the git working tree it sits in). `url:<git url>`
is cloned shallow through ingest.git (GitHub/GitLab `/tree/<branch>/<path>` forms name a folder in it),
and only from a configured integration host: the ref is written by whoever controls the repository, so
`file://` URLs and repositories on the server's own disk are refused (they would publish what the server
can read), as is every host outside `integrations:`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Sequence
from urllib.parse import unquote, urlsplit

from docs_builder.config import confined
from docs_builder.errors import DocsBuildError
from graph.techdocs import TECHDOCS_ANNOTATION
from ingest.git import GitError, GitRefused, checkout, is_git_url, is_remote_url

if TYPE_CHECKING:
    from ingest.integrations import Integrations

MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
MANAGED_BY_ORIGIN = "backstage.io/managed-by-origin-location"
_TREE = re.compile(r"^(?P<repo>https?://[^?#]+?)(?:/-)?/(?:tree|blob)/[^/]+(?:/(?P<path>.*))?$")


@dataclass(frozen=True)
class DocsSource:
    root: Path        # nothing outside it is read
    folder: Path      # the folder holding mkdocs.yml


def techdocs_ref_of(entity: dict) -> str | None:
    annotations = (entity.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TECHDOCS_ANNOTATION)
    return str(value).strip() if value not in (None, "") else None


def _git_toplevel(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _location_root(entity: dict, descriptor_dir: Path) -> Path:
    """The folder a `dir:` ref may not leave: the git working tree, else the ingested location."""
    top = _git_toplevel(descriptor_dir)
    if top is not None:
        return top
    origin = str(((entity.get("metadata") or {}).get("annotations") or {}).get(MANAGED_BY_ORIGIN) or "")
    if origin.startswith("file:"):
        path = Path(origin[5:]).resolve()
        return path if path.is_dir() else path.parent
    return descriptor_dir


def split_repo_url(url: str) -> tuple[str, str]:
    """`https://host/org/repo/tree/main/docs` -> (`https://host/org/repo`, `docs`); other URLs unchanged."""
    match = _TREE.match(url.rstrip("/"))
    if match:
        return match["repo"], (match["path"] or "").strip("/")
    return url, ""


def _under(target: str, roots: Sequence[Path]) -> bool:
    """Whether a `file://` URL or path names a place under one of `roots` (after resolving links and `..`)."""
    if not roots:
        return False
    text = unquote(urlsplit(target).path) if target.lower().startswith("file:") else target
    try:
        place = Path(text).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return place.is_absolute() and any(place.is_relative_to(Path(root).resolve()) for root in roots)


def resolve(entity: dict, *, git_timeout: float = 120, integrations: "Integrations | None" = None,
            local_roots: Sequence[Path] = ()) -> DocsSource:
    """The local folder of the entity's docs (cloning `url:` refs through the integrations, default those of
    TRELLIS_CONFIG); DocsBuildError with a clear reason. A `url:` ref to a `file://` URL or a bare repository
    on this server is cloned only when it lies under one of `local_roots` (the portal's location roots)."""
    ref = techdocs_ref_of(entity)
    if ref is None:
        raise DocsBuildError(f"the entity has no {TECHDOCS_ANNOTATION} annotation")
    kind, sep, target = ref.partition(":")
    kind = kind.strip().lower()
    if not sep or not target.strip():
        raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r} must look like dir:<path> or url:<git url>")
    target = target.strip()
    if kind == "dir":
        location = str(((entity.get("metadata") or {}).get("annotations") or {}).get(MANAGED_BY_LOCATION) or "")
        if not location.startswith("file:"):
            raise DocsBuildError(f"dir: docs need a descriptor read from a file; this entity came from {location!r}")
        descriptor_dir = Path(location[5:]).resolve().parent
        root = _location_root(entity, descriptor_dir).resolve()
        folder = (descriptor_dir / confined(target, TECHDOCS_ANNOTATION)).resolve()
        if not folder.is_relative_to(root):
            raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r} points outside the location {root}")
        if not folder.is_dir():
            raise DocsBuildError(f"the docs folder {folder} does not exist")
        return DocsSource(root=root, folder=folder)
    if kind == "url":
        repo_url, sub = split_repo_url(target)
        if not is_git_url(repo_url):
            raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r}: not a git repository URL")
        local = not is_remote_url(repo_url)
        if local and not _under(repo_url, local_roots):
            raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r}: url: refs must name a repository on a configured "
                                 f"integration host, not a file:// URL or a path on this server")
        try:
            repo = checkout(repo_url, timeout=git_timeout, integrations=integrations, allow_local=local).resolve()
        except GitRefused as exc:
            raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r} refused: {exc}") from None
        except GitError as exc:
            raise DocsBuildError(f"could not fetch the docs repository: {exc}") from None
        folder = (repo / confined(sub, "the docs path")).resolve() if sub else repo
        if not folder.is_relative_to(repo) or not folder.is_dir():
            raise DocsBuildError(f"the docs folder {sub!r} does not exist in {repo_url}")
        return DocsSource(root=repo, folder=folder)
    raise DocsBuildError(f"{TECHDOCS_ANNOTATION} {ref!r}: only dir: and url: references are supported")
