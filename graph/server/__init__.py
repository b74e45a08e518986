"""Local Neo4j 5.26 Community server (+ APOC) provisioned from Maven Central.

Why: the catalog lives in Neo4j and this project cannot use Docker or neo4j.com
downloads; see ``graph/server/local.py`` for the layout and ``pom.xml`` for the
pinned versions. Used by the ``trellis neo4j`` CLI and by the test fixtures.
"""

from graph.server.local import (
    DEFAULT_HOME,
    DIST_DIR,
    POM,
    ServerError,
    ServerInfo,
    apoc_version,
    credentials,
    credentials_for,
    env_for,
    free_port,
    info_dict,
    neo4j_version,
    provision,
    start,
    status,
    stop,
)

__all__ = [
    "DEFAULT_HOME",
    "DIST_DIR",
    "POM",
    "ServerError",
    "ServerInfo",
    "apoc_version",
    "credentials",
    "credentials_for",
    "env_for",
    "free_port",
    "info_dict",
    "neo4j_version",
    "provision",
    "start",
    "status",
    "stop",
]
