"""TechDocs sites in S3-compatible storage, against moto running as a real server on a free port."""
from __future__ import annotations

import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from docs_builder.build import build_entity_docs
from docs_builder.storage import S3Storage, storage_from_config
from servers.base import free_port

BUCKET = "trellis-docs"


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_url, monkeypatch):
    import boto3
    import requests

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    client.create_bucket(Bucket=BUCKET)
    return client


def keys(client, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def make_site(root: Path, text: str) -> Path:
    (root / "guide").mkdir(parents=True)
    (root / "index.html").write_text(f"<html><body><article class='md-content__inner'><h1>{text}</h1></article></body></html>")
    (root / "guide" / "index.html").write_text("<html><body><div role='main'>Guide</div></body></html>")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "assets" / "javascripts").mkdir(parents=True)
    (root / "assets" / "javascripts" / "bundle.js").write_text("theme()")
    (root / "evil.js").write_text("alert(1)")
    return root


def test_publish_read_and_replace_a_site(s3, tmp_path):
    storage = S3Storage(BUCKET, "sites", client=s3)
    key = "default/component/svc"
    assert storage.manifest(key) is None and storage.read(key, "index.html") is None

    first = storage.publish(key, make_site(tmp_path / "one", "First"), {"hash": "h1", "pages": []})
    assert storage.manifest(key) == {"hash": "h1", "pages": [], "version": first}
    assert b"First" in storage.read(key, "index.html")
    assert storage.read(key, "logo.png").startswith(b"\x89PNG")
    # only pages and safe static files are stored: no scripts, not even the theme's
    assert keys(s3, f"sites/{key}/{first}/") == [f"sites/{key}/{first}/{p}" for p in
                                                  ("guide/index.html", "index.html", "logo.png")]
    assert storage.read(key, "evil.js") is None and storage.read(key, "../../other/x") is None
    head = s3.head_object(Bucket=BUCKET, Key=f"sites/{key}/{first}/index.html")
    assert head["ContentType"] == "text/html; charset=utf-8"

    second = storage.publish(key, make_site(tmp_path / "two", "Second"), {"hash": "h2", "pages": []})
    third = storage.publish(key, make_site(tmp_path / "three", "Third"), {"hash": "h3", "pages": []})
    assert b"Third" in storage.read(key, "index.html")
    versions = {k.split("/")[4] for k in keys(s3, f"sites/{key}/") if not k.endswith("manifest.json")}
    assert versions == {second, third}        # the previous version stays for requests in flight, no older

    storage.delete(key)
    assert keys(s3, f"sites/{key}/") == [] and storage.manifest(key) is None


def test_storage_is_chosen_by_configuration(s3, moto_url):
    storage = storage_from_config({"TRELLIS_DOCS_STORAGE": "s3", "TRELLIS_DOCS_S3_BUCKET": BUCKET,
                                   "TRELLIS_DOCS_S3_ENDPOINT": moto_url, "TRELLIS_DOCS_S3_PREFIX": "p"})
    assert isinstance(storage, S3Storage) and storage.prefix == "p/"
    with pytest.raises(Exception, match="TRELLIS_DOCS_S3_BUCKET"):
        storage_from_config({"TRELLIS_DOCS_STORAGE": "s3", "TRELLIS_DOCS_S3_BUCKET": ""})


def test_a_build_published_to_s3_is_served_by_the_portal(s3, moto_url, portal_app, graph_module, tmp_path):
    from ingest.sync import ingest

    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "catalog-info.yaml").write_text(textwrap.dedent("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: s3-docs
          annotations: {backstage.io/techdocs-ref: "dir:."}
        spec: {type: service, lifecycle: production, owner: payments-team}
    """))
    (repo / "mkdocs.yml").write_text("site_name: Docs in S3\n")
    (repo / "docs" / "index.md").write_text("# Stored in a bucket\n\nServed from S3.\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert ingest(graph_module, str(repo)).added == 1

    storage = S3Storage(BUCKET, client=s3)
    outcome = build_entity_docs(graph_module, "component:default/s3-docs", storage)
    assert outcome.status == "succeeded", outcome
    assert any(k.endswith("/index.html") for k in keys(s3, "default/component/s3-docs/"))

    portal_app.extensions["trellis.docs_storage"] = storage
    try:
        page = portal_app.test_client().get("/docs/default/component/s3-docs/")
    finally:
        portal_app.extensions.pop("trellis.docs_storage", None)
    assert page.status_code == 200
    content = re.search(r'id="docs-content">(.*?)</article>', page.get_data(as_text=True), re.S).group(1)
    assert "Stored in a bucket" in content and "Served from S3." in content


def test_unreachable_storage_is_a_clear_error_page(portal_app, graph_module):
    import boto3
    from botocore.config import Config

    dead = f"http://127.0.0.1:{free_port()}"    # nothing listens there
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=dead, aws_access_key_id="x",
                          aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    portal_app.extensions["trellis.docs_storage"] = S3Storage(BUCKET, client=client)
    # the site was published (a successful build is on record: the portal serves only those), then its
    # storage went away
    from graph import techdocs

    ref, now = "component:default/payments-service", int(time.time() * 1000)
    techdocs.start_build(graph_module, build_id="s3-down", ref=ref, techdocs_ref="dir:.", hash=None,
                         trigger="manual", now=now, stale_after_ms=60_000)
    techdocs.finish_build(graph_module, "s3-down", status="succeeded", now=now)
    try:
        page = portal_app.test_client().get("/docs/default/component/payments-service/")
    finally:
        portal_app.extensions.pop("trellis.docs_storage", None)
        graph_module.write("MATCH (b:DocsBuild {id: 's3-down'}) DETACH DELETE b")
    assert page.status_code == 502
    text = page.get_data(as_text=True)
    assert "The docs storage cannot be reached" in text and "Traceback" not in text
