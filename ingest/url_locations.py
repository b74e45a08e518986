"""URL locations: a descriptor file named by its web URL, read through the integrations, owned like a path.

Why a location of its own kind: Backstage users register `https://github.com/org/repo/blob/main/
catalog-info.yaml`, not clones. The file (and every file its Locations name, by URL or relative to it) is
read through `ingest.integrations.readers` (allow-listed hosts only, their APIs, ETags: an unchanged remote
costs one 304 per file on refresh), then is planned and written like a path location (ingest.plan,
ingest.execute): one owner per ref, removals through the guard, conflicts reported. A file that cannot be
read this time (404, refused, too large) is reported and its stored entities are kept.

Each entity gets Backstage's location annotations: managed-by-location `url:<its file>`, managed-by-origin-
location `url:<the registered URL>`, source-location `url:<its file's directory>/`, view-url and edit-url.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.descriptors import Limits
from ingest.descriptors.remote import read_url_catalog
from ingest.integrations import Integrations, load_integrations
from ingest.integrations.readers import ReadFailed, UrlReaders, edit_url, is_file_url, resolve_url
from ingest.kinds import KindRules
from ingest.plan import Batch, Candidate

if TYPE_CHECKING:
    from ingest.sync import IngestResult

SOURCE_LOCATION = "backstage.io/source-location"
VIEW_URL = "backstage.io/view-url"
EDIT_URL = "backstage.io/edit-url"


def is_url_location(target: str, integrations: Integrations | None = None) -> bool:
    """Whether `target` is read as a URL location (a file URL on an integration) rather than cloned or a path."""
    if not target.lower().startswith(("https://", "http://")):
        return False   # paths never need the integrations (nor a readable TRELLIS_CONFIG)
    return is_file_url(target, integrations or load_integrations())


def annotate(entity: dict, url: str, integrations: Integrations) -> None:
    """Backstage's URL-location annotations (the file's own values win, as in Backstage)."""
    annotations = entity.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.setdefault(SOURCE_LOCATION, f"url:{url.rsplit('/', 1)[0]}/" if "?" not in url else f"url:{url}")
    annotations.setdefault(VIEW_URL, url)
    edit = edit_url(integrations.integration_for(url), url)
    if edit:
        annotations.setdefault(EDIT_URL, edit)


def read_url_location(target: str, result: "IngestResult", rules: KindRules, integrations: Integrations | None,
                      readers: UrlReaders | None = None) -> Batch:
    """The get step of a URL location's run: read by URL and annotate (ReadFailed when the registered URL
    itself cannot be read); what it reads is planned and written like any other batch (ingest.sync)."""
    integrations = integrations or load_integrations()
    limits = Limits()
    own = readers is None
    readers = readers or UrlReaders(integrations, max_bytes=limits.max_file_bytes)
    try:
        read = read_url_catalog(target, fetch=lambda url: readers.read(url).text, resolve=resolve_url,
                                limits=limits)
    finally:
        if own:
            readers.close()
    result.files = len(read.files)
    result.rejected.extend(r.as_dict() for r in read.rejections)
    for doc in read.documents:
        annotate(doc.entity, doc.url, integrations)
    return Batch(
        candidates=[Candidate(d.url, d.url, d.index, d.entity, rules) for d in read.documents],
        shown=lambda file: file or "",
        protected={r.ref for r in read.rejections if r.ref},
        failed=set(read.failed),
        truncated=read.truncated,
    )


def add_url_targets(batch: Batch, urls: list[str], result: "IngestResult", rules: KindRules,
                    integrations: Integrations) -> None:
    """Read the URL targets of a path location's Locations into its batch (one owner: the path location).

    Each target and what it names is read like a URL location (annotations too); a target that cannot be
    read is a file-level rejection and its stored entities are kept.
    """
    limits = Limits()
    readers = UrlReaders(integrations, max_bytes=limits.max_file_bytes)
    shown = batch.shown
    batch.shown = lambda file: file if (file or "").startswith(("https://", "http://")) else shown(file)
    seen: set[str] = set()
    try:
        for target in urls:
            try:
                url = resolve_url(target, target)
            except Exception as exc:
                result.rejected.append({"file": target, "document": None, "ref": None, "field": None,
                                        "reason": f"{target} is not a URL: {exc}"})
                continue
            if url in seen:
                continue
            try:
                read = read_url_catalog(url, fetch=lambda u: readers.read(u).text, resolve=resolve_url,
                                        limits=limits)
            except ReadFailed as exc:
                batch.failed.add(url)
                result.rejected.append({"file": url, "document": None, "ref": None, "field": None,
                                        "reason": str(exc)})
                continue
            seen.update(read.files)
            result.files += len(read.files)
            result.rejected.extend(r.as_dict() for r in read.rejections)
            for doc in read.documents:
                annotate(doc.entity, doc.url, integrations)
                batch.candidates.append(Candidate(doc.url, doc.url, doc.index, doc.entity, rules))
            batch.protected.update(r.ref for r in read.rejections if r.ref)
            batch.failed.update(read.failed)
            batch.truncated = batch.truncated or read.truncated
    finally:
        readers.close()
