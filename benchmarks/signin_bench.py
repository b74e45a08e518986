"""Sign-in benchmark: resolver lookups over many catalog users, the throttle's check-and-count, and a whole
local sign-in (POST /auth/login: throttle, scrypt, resolver, session, audit) through the real app.

    .venv/bin/python -m benchmarks.signin_bench [--users 10000] [--rounds 200]

Starts its own throwaway Neo4j (unless NEO4J_URI is set; then that database is WIPED), prints the figures and
writes them to benchmarks/out/signin.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn, rounds: int) -> dict:
    samples = []
    for i in range(rounds):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(pct(samples, 95), 2)}


def write_users(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    docs = []
    for i in range(n):
        docs.append(
            "apiVersion: backstage.io/v1alpha1\nkind: User\n"
            f"metadata: {{name: user{i}, annotations: {{github.com/user-login: gh-user{i}}}}}\n"
            f"spec: {{profile: {{displayName: User {i}, email: user{i}@corp.example}}, memberOf: []}}\n")
    (folder / "catalog-info.yaml").write_text("---\n".join(docs))


def run(uri: str, users: int, rounds: int, workdir: Path) -> dict:
    from app.auth import accounts, resolvers
    from app.auth.resolvers import Identity
    from graph import throttle as store
    from graph.driver import Settings, connect
    from ingest.sync import ingest
    from tests.test_signin_support import form, make_app

    result: dict = {"users": users, "rounds": rounds}
    with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                          password=os.environ.get("NEO4J_PASSWORD"))) as graph:
        while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
            pass
        write_users(workdir / "people", users)
        t0 = time.perf_counter()
        ingest(graph, str(workdir / "people"))
        result["ingest_s"] = round(time.perf_counter() - t0, 1)

        for name, chain, who in (
            ("resolve_email", ("email",), lambda i: Identity("oidc", "s", "x", emails=(f"USER{i * 7 % users}@corp.example",))),
            ("resolve_username", ("username",), lambda i: Identity("oidc", "s", f"user{i * 7 % users}")),
            ("resolve_annotation", ("annotation:github.com/user-login",),
             lambda i: Identity("github", "s", f"gh-user{i * 7 % users}")),
        ):
            def lookup(i: int, chain=chain, who=who) -> None:
                assert resolvers.resolve(graph, who(i), chain).user_ref is not None

            result[name] = timed(lookup, rounds)

        limits = {"user:bench": 10**6, "ip:127.0.0.1": 10**6}
        result["throttle_reserve"] = timed(lambda i: store.reserve(graph, limits, 300_000), rounds)

        accounts.add_user(graph, "user1", "benchmark password 1")
        app = make_app(uri, {"local": True, "throttle": {"username": 10**6, "ip": 10**6}})
        client = app.test_client()

        def sign_in(i: int) -> None:
            _, f = form(client.get("/auth/login").get_data(as_text=True), "/auth/login")
            f.update(username="user1", password="benchmark password 1")
            assert client.post("/auth/login", data=f).status_code == 303
            client.post("/auth/logout", data=form(client.get("/auth/login").get_data(as_text=True),
                                                   "/auth/logout")[1])

        result["local_signin_roundtrip"] = timed(sign_in, max(10, rounds // 10))
        app.extensions["trellis.graph"].close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    server_home = None
    if not os.environ.get("NEO4J_URI"):
        from graph.server import start
        from servers.base import free_port

        server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
        uri = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="1g", pagecache="512m").uri
    else:
        uri = os.environ["NEO4J_URI"]
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    try:
        result = run(uri, args.users, args.rounds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "signin.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
