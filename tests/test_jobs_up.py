"""`trellis up` runs the jobs next to the portal: a project-local redis-server, a worker and beat, which
run a scheduled source by themselves; Ctrl-C stops the portal and all of them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from graph import sources
from servers.base import free_port
from servers.base import pid_alive as _alive

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.timeout(280), pytest.mark.slow]


def test_up_starts_redis_worker_and_beat_and_ctrl_c_stops_them(graph, neo4j_uri, tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "catalog-info.yaml").write_text(textwrap.dedent("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: up-demo}
        spec: {type: service, lifecycle: production, owner: team}
    """))
    config = tmp_path / "trellis.yaml"
    config.write_text("sources:\n  - {name: mini, provider: git, schedule: 3, options: {target: catalog}}\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TRELLIS_REDIS_URL"}
    env.update(NEO4J_URI=neo4j_uri, TRELLIS_REDIS_HOME=str(tmp_path / "redis"), TRELLIS_REDIS_PORT="0",
               TRELLIS_CONFIG=str(config), TRELLIS_CACHE=str(tmp_path / "cache"),
               TRELLIS_BEAT_SCHEDULE=str(tmp_path / "beat-schedule"), TRELLIS_ENV="development",
               PYTHONPATH=str(REPO))
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from app.cli import main; main()", "up", "--catalog", str(catalog),
             "--port", str(port)], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as res:
                    assert json.load(res)["neo4j"] == "up"
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        redis_state = json.loads((tmp_path / "redis" / "redis.json").read_text())
        assert _alive(redis_state["pid"])
        # beat queues the scheduled source and the worker runs it, with nobody asking
        deadline = time.monotonic() + 90
        while not [r for r in sources.list_runs(graph, source="mini") if r["trigger"] == "schedule"
                   and r["status"] == "ok"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)   # what Ctrl-C sends
        proc.wait(60)
    finally:
        if proc.poll() is None:   # a failed run: stop `up` and what it started in sessions of their own
            for pid in [*_descendants(proc.pid), *_redis_pid(tmp_path / "redis" / "redis.json")]:
                _kill_group(pid)
            os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text()
    assert "Stopped the job worker and Redis." in output, output
    assert not _alive(redis_state["pid"])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)


def _descendants(root: int) -> list[int]:
    """Every process below `root` (the worker, beat and Redis `up` starts each in its own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _redis_pid(state: Path) -> list[int]:
    try:
        return [int(json.loads(state.read_text())["pid"])]
    except (OSError, ValueError, KeyError):
        return []


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass

