"""servers/: the one base class every local server's supervision stands on (no JVM needed here), and the
layering rule that servers/ imports nothing of ours and never the neo4j driver."""
from __future__ import annotations

import ast
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from servers import neo4j as local_neo4j
from servers.base import LocalServer, ServerError, free_port, pid_alive

SERVERS = Path(__file__).resolve().parents[1] / "servers"


class Sleepy(LocalServer):
    name = "sleepy"
    log_name = "sleepy.log"


def test_a_server_that_dies_while_starting_is_an_error_with_its_log_tail(tmp_path):
    server = Sleepy(tmp_path)
    proc = server.spawn([sys.executable, "-c", "print('port 1 is taken: bind failed'); raise SystemExit(3)"])
    with pytest.raises(ServerError, match=r"sleepy exited with code 3 during start(.|\n)*bind failed"):
        server.wait_until(lambda: False, time.monotonic() + 30, proc=proc)


def test_a_server_that_never_answers_is_an_error_at_the_deadline_and_stop_ends_its_process_group(tmp_path):
    server = Sleepy(tmp_path)
    # a parent that ignores nothing and a child in the same group: both must go (as kc.sh and its java)
    proc = server.spawn([sys.executable, "-c",
                         "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
                         "'import time; time.sleep(120)']); print('booting', flush=True); time.sleep(120)"])
    try:
        with pytest.raises(ServerError, match=r"sleepy did not answer in time(.|\n)*booting"):
            server.wait_until(lambda: False, time.monotonic() + 1.5, proc=proc, interval=0.1)
    finally:
        Sleepy.terminate(proc.pid, 10, group=True, proc=proc)
    assert proc.poll() is not None and not pid_alive(proc.pid)


def test_bolt_readiness_is_the_protocol_handshake_not_any_listener():
    """Without the driver, servers.neo4j asks Bolt's handshake: a port that merely accepts connections (another
    program) is not taken for a ready Neo4j."""
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(20)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")   # an answer, but not Bolt's 4-byte version
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert local_neo4j._bolt_answers(port, timeout=2) is False   # answered, but not with a Bolt version
        assert local_neo4j._bolt_answers(free_port(), timeout=1) is False   # nothing listens
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def test_servers_import_nothing_of_ours_and_never_neo4j():
    ours = {"app", "graph", "ingest", "plugins", "docs_builder", "scaffolder", "neo4j", "tests", "benchmarks"}
    for path in SERVERS.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ours, f"{path.name} imports {name}"


def test_local_neo4j_memory_is_sized_from_the_store_and_the_machine():
    from servers.neo4j import memory_for

    mib, gib = 1 << 20, 1 << 30
    # a new or small catalog: the defaults the tests and the demo always ran with
    assert memory_for(0, 24 * gib) == ("1024m", "256m")
    # the page cache holds the whole store with room to grow (reads never wait for the disk)
    heap, pagecache = memory_for(700 * mib, 24 * gib)
    assert (heap, pagecache) == ("2048m", "1050m")
    # never more than the machine can spare: heap <= 1/4, heap + page cache <= 1/2
    heap, pagecache = memory_for(3 * gib, 4 * gib)
    assert int(heap[:-1]) <= 1024 and int(heap[:-1]) + int(pagecache[:-1]) <= 2048


def test_explicit_memory_settings_win_over_the_sizing(monkeypatch, tmp_path):
    from servers.neo4j import sized_memory

    monkeypatch.setenv("TRELLIS_NEO4J_HEAP", "3g")
    monkeypatch.setenv("TRELLIS_NEO4J_PAGECACHE", "5g")
    assert sized_memory(tmp_path) == ("3g", "5g")
