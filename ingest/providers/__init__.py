"""Remote providers' get and transform code (Git hosts, clouds, CI); their plugins live in plugins/builtin/.

Each provider module offers pure transforms (payloads in, Backstage-shaped entity dicts out) and a `sync`
that gets the payloads through `ingest.providers.http` and loads them with `ingest.sync.ingest_entities`.
"""
