"""Trellis TechDocs builder: MkDocs (techdocs-core) sites built from entities' `backstage.io/techdocs-ref`.

Modules: `source` (where the docs are), `tree` (content hash, confined copy), `config` (untrusted
mkdocs.yml -> safe config), `runner` (MkDocs in a limited child process), `pages` (page text for search and
serving), `storage` (local folder or S3), `build` (get -> transform -> load -> cleanup for one entity),
`tasks` (Celery). Importable as `docs_builder`; never imports `app/`.
"""
