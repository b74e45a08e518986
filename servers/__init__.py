"""Local server supervision: the Neo4j, Redis, OpenSearch and Keycloak that development and the tests run as
plain child processes, provisioned from Maven Central and Debian (no Docker).

The lowest layer (LAYERING.md): it imports nothing of ours and never ``neo4j``. One base class
(:class:`servers.base.LocalServer`) holds what they share (own session, wait until ready with the log tail in
errors, SIGTERM then SIGKILL); each module adds its own provisioning, command line and readiness check:

* ``servers.neo4j`` (+ ``servers.neo4j_admin``: offline dump/load) - the catalog's store. The two steps that need
  the driver (setting the generated password on first start, asking its version) are ``graph.server``.
* ``servers.redis`` - the job queue's broker (``trellis up``, the tests).
* ``servers.opensearch`` - the search engine plugin's store in tests, benchmarks and development.
* ``servers.keycloak`` - the sign-in tests' OpenID Provider (its realm is tests/idp's).
* ``servers.paths`` - where local state lives (``.trellis/``, or ``$TRELLIS_STATE_DIR``).

``servers/files/`` holds the pinned poms and OpenSearch's launcher; they ship in the wheel (pyproject.toml).
"""
