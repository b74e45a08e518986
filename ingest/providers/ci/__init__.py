"""CI providers: GitHub Actions, GitLab pipelines, Jenkins builds -> `(:Entity)-[:HAS_BUILD]->(:Build)`.

Each module has get (remote calls through ingest.providers.http) and a pure transform to build records;
`ingest.providers.ci.sync` runs get -> transform -> load -> cleanup for one source.
"""
