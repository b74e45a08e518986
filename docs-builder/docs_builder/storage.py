"""Where built sites live, behind one small interface: a local folder (default) or S3-compatible storage.

Layout (both backends): `<key>/manifest.json` names the current version; the site's files are under
`<key>/<version>/<path>`. Publishing writes the new version first and switches the manifest last, so a
reader never sees half a site; the previous version is kept (a request in flight can finish) and older ones
are deleted. Keys are `namespace/kind/name` of the entity (validated names, lower-case).

Only what the portal serves is stored: HTML pages and static files of safe types (images, PDF, text).
The theme's scripts and styles are never served, so they are never stored.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

from graph.server.paths import state_dir

def default_local_dir() -> Path:
    """`techdocs/` in the state folder: `.trellis/techdocs` in a checkout (like the local Neo4j), else
    `$TRELLIS_STATE_DIR/techdocs` (the web, worker and docs-builder processes must share it)."""
    return state_dir() / "techdocs"
# extension -> media type: the only static files stored and served (anything else is not published)
SAFE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".bmp": "image/bmp", ".ico": "image/x-icon",
    ".svg": "image/svg+xml", ".pdf": "application/pdf", ".txt": "text/plain", ".csv": "text/csv",
}
# One path segment: any printable text (MkDocs pages may have non-ASCII names) but no separators, controls
# or characters that mean something else to a filesystem or a URL parser.
_SEGMENT = re.compile(r'^[^\x00-\x1f\x7f/\\:*?"<>|#%]+$')
_SKIP_PREFIXES = ("assets/javascripts/", "assets/stylesheets/", "search/")


class StorageError(RuntimeError):
    """The storage backend could not be read or written."""


def safe_path(path: str) -> str | None:
    """A site path that cannot leave the site (no `..`, no absolute or odd segments), or None."""
    if not path:
        return ""
    if "\\" in path or "\x00" in path or path.startswith("/") or "//" in path:
        return None
    segments = path.rstrip("/").split("/")
    if any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        return None
    return path


def entity_key(ref: str) -> str:
    """`component:default/x` -> `default/component/x` (refs are validated, lower-case names)."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    key = f"{namespace}/{kind}/{name}".lower()
    if safe_path(key) is None or key.count("/") != 2:
        raise ValueError(f"not an entity ref: {ref!r}")
    return key


def publishable(site: Path) -> Iterator[tuple[str, Path]]:
    """(site path, file) for every page and safe static file of a built site."""
    for path in sorted(site.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(site).as_posix()
        if rel.startswith(_SKIP_PREFIXES) or rel.startswith("sitemap.xml") or safe_path(rel) is None:
            continue
        suffix = posixpath.splitext(rel)[1].lower()
        if suffix == ".html" or suffix in SAFE_TYPES:
            yield rel, path


class Storage(Protocol):
    def publish(self, key: str, site: Path, manifest: dict) -> str: ...
    def manifest(self, key: str) -> dict | None: ...
    def read(self, key: str, path: str) -> bytes | None: ...
    def delete(self, key: str) -> None: ...


def _new_version() -> str:
    return "v-" + uuid.uuid4().hex[:16]


class LocalStorage:
    """Sites in a folder (default `.trellis/techdocs`, or TRELLIS_DOCS_DIR)."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    def _dir(self, key: str) -> Path:
        folder = (self.root / key).resolve()
        if not folder.is_relative_to(self.root):
            raise ValueError(f"bad storage key {key!r}")
        return folder

    def publish(self, key: str, site: Path, manifest: dict) -> str:
        folder = self._dir(key)
        version = _new_version()
        dest = folder / version
        for rel, path in publishable(site):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        dest.mkdir(parents=True, exist_ok=True)
        previous = (self.manifest(key) or {}).get("version")
        tmp = folder / f".manifest-{version}.json"
        tmp.write_text(json.dumps({**manifest, "version": version}))
        os.replace(tmp, folder / "manifest.json")
        for old in folder.iterdir():
            if old.is_dir() and old.name.startswith("v-") and old.name not in (version, previous):
                shutil.rmtree(old, ignore_errors=True)
        return version

    def manifest(self, key: str) -> dict | None:
        try:
            return json.loads((self._dir(key) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def read(self, key: str, path: str) -> bytes | None:
        manifest = self.manifest(key)
        if manifest is None or safe_path(path) is None:
            return None
        base = (self._dir(key) / manifest["version"]).resolve()
        target = (base / path).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return None
        return target.read_bytes()

    def delete(self, key: str) -> None:
        shutil.rmtree(self._dir(key), ignore_errors=True)


class S3Storage:
    """Sites in an S3-compatible bucket (AWS S3, MinIO, moto), under an optional prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, endpoint_url: str | None = None,
                 region: str | None = None):
        import boto3  # noqa: PLC0415 -- heavy (boto3 + botocore): only a deployment with S3 storage loads it

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def _key(self, key: str, *parts: str) -> str:
        return self.prefix + "/".join((key, *parts))

    def _error(self, exc: Exception, what: str) -> StorageError:
        return StorageError(f"S3 bucket {self.bucket}: could not {what}: {exc}")

    def publish(self, key: str, site: Path, manifest: dict) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 -- S3 only, as boto3

        version = _new_version()
        previous = (self.manifest(key) or {}).get("version")
        try:
            for rel, path in publishable(site):
                suffix = posixpath.splitext(rel)[1].lower()
                content_type = "text/html; charset=utf-8" if suffix == ".html" else SAFE_TYPES[suffix]
                self.client.put_object(Bucket=self.bucket, Key=self._key(key, version, rel), Body=path.read_bytes(),
                                       ContentType=content_type)
            self.client.put_object(Bucket=self.bucket, Key=self._key(key, "manifest.json"),
                                   Body=json.dumps({**manifest, "version": version}).encode(),
                                   ContentType="application/json")
            self._delete_versions(key, keep={version, previous})
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "publish the site") from exc
        return version

    def _delete_versions(self, key: str, keep: set) -> None:
        base = self._key(key, "")
        stale: list[dict] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                version = obj["Key"][len(base):].split("/", 1)[0]
                if version.startswith("v-") and version not in keep:
                    stale.append({"Key": obj["Key"]})
        for i in range(0, len(stale), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": stale[i:i + 1000], "Quiet": True})

    def _get(self, object_key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 -- S3 only, as boto3

        try:
            return self.client.get_object(Bucket=self.bucket, Key=object_key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._error(exc, "read") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "read") from exc

    def manifest(self, key: str) -> dict | None:
        data = self._get(self._key(key, "manifest.json"))
        return json.loads(data) if data else None

    def read(self, key: str, path: str) -> bytes | None:
        manifest = self.manifest(key)
        if manifest is None or safe_path(path) is None:
            return None
        return self._get(self._key(key, manifest["version"], path))

    def delete(self, key: str) -> None:
        self._delete_versions(key, keep=set())
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key, "manifest.json"))


def storage_from_config(config: Mapping[str, Any] | None = None) -> Storage:
    """The configured backend: TRELLIS_DOCS_STORAGE (an object, "local" or "s3") from `config`, else env.

    local: TRELLIS_DOCS_DIR (default techdocs/ in the state folder: .trellis/techdocs in a checkout). s3: TRELLIS_DOCS_S3_BUCKET, TRELLIS_DOCS_S3_PREFIX,
    TRELLIS_DOCS_S3_ENDPOINT, AWS_REGION; credentials come from boto3's usual chain.
    """
    config = config or {}

    def get(name: str) -> Any:
        value = config.get(name)
        return value if value not in (None, "") else os.environ.get(name)

    backend = get("TRELLIS_DOCS_STORAGE") or "local"
    if not isinstance(backend, str):
        return backend    # an already built Storage (tests, embedding)
    if backend == "local":
        return LocalStorage(get("TRELLIS_DOCS_DIR") or default_local_dir())
    if backend == "s3":
        bucket = get("TRELLIS_DOCS_S3_BUCKET")
        if not bucket:
            raise StorageError("TRELLIS_DOCS_STORAGE=s3 needs TRELLIS_DOCS_S3_BUCKET")
        return S3Storage(bucket, get("TRELLIS_DOCS_S3_PREFIX") or "", endpoint_url=get("TRELLIS_DOCS_S3_ENDPOINT"),
                         region=get("AWS_REGION") or get("AWS_DEFAULT_REGION") or "us-east-1")
    raise StorageError(f"TRELLIS_DOCS_STORAGE must be local or s3, not {backend!r}")
