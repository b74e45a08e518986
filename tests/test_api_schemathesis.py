"""Property-based fuzzing of every documented operation: no generated request may produce a 5xx.

POST /locations is included, but its allowed root is an empty temp dir and git URLs are disabled, so no
generated target can make the server read anything.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from app.auth.tokens import issue_token
from ingest.sync import ingest

pytestmark = pytest.mark.slow   # thousands of generated requests

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


@pytest.fixture(scope="module")
def fuzz_app(graph_module, neo4j_uri, tmp_path_factory):
    ingest(graph_module, str(DEMO))
    # Fuzzed as an admin with a real API token, as an automation client would call the API.
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "TRELLIS_ROLES": {"user:default/fuzz-admin": "admin"},
                      "TRELLIS_LOCATION_ROOTS": [str(tmp_path_factory.mktemp("fuzz-root"))],
                      "TRELLIS_LOCATION_ALLOW_GIT": False})
    token, _ = issue_token(graph_module, name="fuzz", owner="user:default/fuzz-admin", kind="personal",
                           scopes=["admin"])
    app.config["FUZZ_TOKEN"] = token
    yield app
    app.extensions["trellis.graph"].close()


schema = schemathesis.pytest.from_fixture("fuzz_schema")


FUZZ_TOKEN: list[str] = []


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    FUZZ_TOKEN[:] = [fuzz_app.config["FUZZ_TOKEN"]]
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {FUZZ_TOKEN[0]}"}, checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance,
                                schemathesis.checks.status_code_conformance])
