"""Software Templates: Backstage's `scaffolder.backstage.io/v1beta3` templates run by Trellis.

Modules, each with one job:
- `expressions`  the `${{ }}` language (Nunjucks semantics on Jinja's immutable sandbox, with time and size limits)
- `filters`      Backstage's filters (parseRepoUrl, parseEntityRef, pick, projectSlug) and Nunjucks-only ones
- `template`     the Template model: parameters (JSON Schema steps), values, defaults, validation, secrets split
- `workspace`    a task's scratch directory and the only way actions reach files (no escape, no symlinks)
- `integrations` the outbound allow-list seam (hosts, API base URLs, tokens) for fetch:* and publish:*
- `runner`       the step runner (`if`, `each`, outputs, cancel, dry run, masking) used by the worker and dry runs
- `tasks`        the Celery task and the queueing used by the API, pages and CLI
- `service`      what the app and CLI call: list templates, create/dry-run tasks, read them back

`scaffolder` talks to Neo4j only through `graph.scaffolder` and `graph.catalog`; actions reach it only through
the action context of `plugins.api` (the plugin door).
"""
