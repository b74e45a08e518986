"""Offline backup and restore of the local server's `neo4j` database with Neo4j's own `neo4j-admin`.

Why these and not an export: `neo4j-admin database dump/load` copies the store itself (nodes, relationships,
indexes, constraints, the schema version record), in the format the same Neo4j jars read back; it is what the
official image's `neo4j-admin` does, run here from the jars servers/neo4j.py already provisions
(`org.neo4j.cli.AdminTool`, in neo4j-command-line). Community Edition dumps only a stopped database.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from servers import neo4j as local

DATABASE = "neo4j"
_ADMIN_CLASS = "org.neo4j.cli.AdminTool"


def _admin(home: Path, *args: str, timeout: float = 600) -> str:
    """Run `neo4j-admin ARGS` against `home`'s configuration; its output, or ServerError with it."""
    dist = local.provision(home)
    conf = home / "conf" / "neo4j.conf"
    if not conf.is_file():   # a home that never ran: write the configuration start() would
        local._write_conf(home, dist, 7687, 7474, "256m")
    classpath = ":".join([str(dist / "plugins" / "*"), str(dist / "lib" / "*")])
    cmd = [local._java(), *local._JVM_FLAGS, "-Xmx512m", "-cp", classpath, _ADMIN_CLASS, *args]
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf.parent)}
    try:
        proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise local.ServerError(f"neo4j-admin {' '.join(args[:2])} did not finish in {timeout:.0f}s") from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        lines = [ln for ln in output.splitlines() if ln.strip()]
        raise local.ServerError(f"neo4j-admin {' '.join(args[:2])} failed (exit {proc.returncode}): "
                                + ("\n".join(lines[-15:]) or "no output"))
    return output


def _refuse_running(home: Path, what: str) -> None:
    if local._running_info(home) is not None:
        raise local.ServerError(f"the local Neo4j ({home}) is running; {what} needs it stopped: "
                                "`trellis neo4j stop` first, `trellis neo4j start` after")


def dump(home: Path | str | None, to_file: Path | str) -> Path:
    """Write the stopped server's `neo4j` database to `to_file` (a `.dump` archive); returns its path."""
    home = local._home(home)
    target = Path(to_file).expanduser().resolve()
    _refuse_running(home, "a dump")
    if not (home / "data" / "databases" / DATABASE).is_dir():
        raise local.ServerError(f"{home} holds no {DATABASE} database to dump")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trellis-dump-", dir=target.parent) as tmp:
        _admin(home, "database", "dump", DATABASE, f"--to-path={tmp}", "--overwrite-destination=true")
        produced = Path(tmp) / f"{DATABASE}.dump"
        if not produced.is_file():
            raise local.ServerError(f"neo4j-admin wrote no {produced.name}")
        os.replace(produced, target)
    return target


def load(home: Path | str | None, from_file: Path | str, *, overwrite: bool = False) -> None:
    """Replace the stopped server's `neo4j` database with the dump `from_file` (refused over existing data
    unless `overwrite`)."""
    home = local._home(home)
    source = Path(from_file).expanduser().resolve()
    if not source.is_file():
        raise local.ServerError(f"{source}: no such dump file")
    _refuse_running(home, "a load")
    if (home / "data" / "databases" / DATABASE).is_dir() and not overwrite:
        raise local.ServerError(f"{home} already holds a {DATABASE} database; pass --force to replace it "
                                "(dump it first if you may need it)")
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trellis-load-", dir=home) as tmp:
        staged = Path(tmp) / f"{DATABASE}.dump"   # neo4j-admin reads <dir>/<database>.dump
        try:
            os.link(source, staged)
        except OSError:
            shutil.copyfile(source, staged)
        _admin(home, "database", "load", DATABASE, f"--from-path={tmp}", "--overwrite-destination=true")
