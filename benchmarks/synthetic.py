"""Synthetic Backstage catalog generator for benchmarks.

    python -m benchmarks.synthetic OUT_DIR --entities 100000 [--seed 42]
    python -m benchmarks.synthetic OUT_DIR --mutate 0.05 [--seed 7]     # edit descriptions in 5% of the files

Writes a realistic catalog of about N entities as multi-document YAML, deterministic for a seed:

    OUT_DIR/catalog-info.yaml                 root Location -> org files + one Location per business unit
    OUT_DIR/org/groups-NNN.yaml               the group tree: root -> business units -> teams -> sub-teams
    OUT_DIR/org/users-NNN.yaml                users, memberOf 1-2 groups
    OUT_DIR/org/domains.yaml                  domains (some subdomainOf another)
    OUT_DIR/teams/<bu>/catalog-info.yaml      nested Location -> the business unit's team folders
    OUT_DIR/teams/<bu>/<team>/catalog-info.yaml   the team's systems, components, APIs and resources

Shape: ~15% users, ~12% APIs, ~12% resources, ~1% systems (N/100), ~N/2000 business units, the rest
components (~58%). Every component sits on a tier 0..9 inside its system; `dependsOn` (2-6 per component)
points to strictly lower tiers (same system mostly, sometimes a later system, or resources), and API
consumption follows the same direction, so dependency chains are 5-12+ hops deep. A few deliberate back edges
make cycles. About 4.3 relations per entity (owner, system/domain/subcomponentOf/subdomainOf, dependsOn incl.
dependencyOf, providesApi, consumesApi, memberOf and each group parent/child pair counted once). Every ref
resolves to a generated entity; names follow Backstage's name rule.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

__all__ = ["generate", "mutate"]

TIERS = 10
PER_FILE = 500          # maximum documents per generated file

_FIRST = ("alice bruno chloe dev emma farid grace hugo ines jonas kate liam maya nils olivia pablo quinn rosa "
          "sam tara umar vera will xena yusuf zoe aaron bea carl dana eli fay gus hana ivan jade kai lena "
          "marc nora omar pia raj sara tom uma victor wen").split()
_LAST = ("nguyen silva martin patel schmidt haddad kim laurent costa berg obrien walsh cohen eriksson jones "
         "garcia rossi novak tanaka muller dubois ivanova kowalski santos murphy larsen singh ahmed chen "
         "fischer moreau horvat yilmaz okafor lindqvist").split()
_AREAS = ("orders billing shipping catalog search identity payments pricing inventory returns loyalty "
          "marketing reviews checkout fulfilment warehouse delivery support analytics notifications "
          "promotions subscriptions invoicing tax fraud recommendations media content accounts partners "
          "gifting wishlist vendors logistics compliance ledger forecasting sourcing").split()
_BU_WORDS = ("commerce technology operations finance marketing logistics data platform customer retail "
             "wholesale partners corporate security growth").split()
_TEAM_WORDS = ("falcon otter badger heron lynx orca puma raven tiger wolf bison cobra eagle gecko ibis "
               "jaguar koala lemur marten newt osprey panda quail robin stork tapir urchin viper walrus "
               "yak zebra").split()
_COMP_ROLES = ("service api worker gateway consumer scheduler processor sync adapter exporter importer "
               "indexer engine store proxy").split()
_RES_TYPES = (("database", "db"), ("database", "replica"), ("queue", "queue"), ("s3-bucket", "bucket"),
              ("cache", "cache"), ("kafka-topic", "topic"))
_RES_WEIGHTS = (30, 8, 15, 15, 17, 15)
_API_TYPES = ("openapi", "grpc", "asyncapi", "graphql")
_API_WEIGHTS = (60, 20, 15, 5)
_LANGS = ("java", "go", "python", "typescript", "kotlin", "rust", "scala")
_LIFECYCLES = ("production", "experimental", "deprecated")
_LIFECYCLE_WEIGHTS = (80, 15, 5)

_API_DEFS = {
    "openapi": "openapi: 3.0.3\ninfo:\n  title: {title}\n  version: 1.{v}.0\npaths:\n  /{name}/{{id}}:\n"
               "    get:\n      operationId: get{camel}\n      parameters:\n        - {{name: id, in: path, "
               "required: true, schema: {{type: string}}}}\n      responses:\n        '200':\n"
               "          description: OK\n",
    "grpc": "syntax = \"proto3\";\npackage acme.{pkg}.v1;\n\nservice {camel} {{\n  rpc Get (GetRequest) returns "
            "(GetResponse);\n}}\nmessage GetRequest {{ string id = 1; }}\nmessage GetResponse {{ string id = 1; "
            "string payload = 2; }}\n",
    "asyncapi": "asyncapi: 2.6.0\ninfo:\n  title: {title}\n  version: 1.{v}.0\nchannels:\n  {name}.v1:\n"
                "    subscribe:\n      message:\n        payload:\n          type: object\n",
    "graphql": "type Query {{\n  {camelLower}(id: ID!): {camel}\n}}\n\ntype {camel} {{\n  id: ID!\n  name: String\n}}\n",
}


# --------------------------------------------------------------------------------------------------- model

class _Group:
    __slots__ = ("name", "type", "parent", "children", "display")

    def __init__(self, name: str, gtype: str, parent: "_Group | None", display: str):
        self.name, self.type, self.parent, self.children, self.display = name, gtype, parent, [], display
        if parent is not None:
            parent.children.append(self)


class _System:
    __slots__ = ("name", "team", "domain", "comps", "apis", "res", "tier_start", "index")

    def __init__(self, index: int, name: str, team: _Group, domain: str):
        self.index, self.name, self.team, self.domain = index, name, team, domain
        self.comps: list[_Comp] = []
        self.apis: list[_Api] = []
        self.res: list[_Res] = []
        self.tier_start: list[int] = []


class _Comp:
    __slots__ = ("name", "system", "tier", "owner", "type", "lifecycle", "lang", "depends", "provides",
                 "consumes", "sub_of")

    def __init__(self, name: str, system: _System):
        self.name, self.system = name, system
        self.tier = 0
        self.owner = system.team.name
        self.type, self.lifecycle, self.lang = "service", "production", "java"
        self.depends: list[str] = []      # full refs: component:x / resource:x
        self.provides: list[str] = []     # API names
        self.consumes: list[str] = []     # API names
        self.sub_of: str | None = None


class _Api:
    __slots__ = ("name", "system", "type", "provider", "lifecycle")

    def __init__(self, name: str, system: _System, atype: str):
        self.name, self.system, self.type = name, system, atype
        self.provider: _Comp | None = None
        self.lifecycle = "production"


class _Res:
    __slots__ = ("name", "system", "type", "depends", "dependency_of")

    def __init__(self, name: str, system: _System, rtype: str):
        self.name, self.system, self.type = name, system, rtype
        self.depends: list[str] = []
        self.dependency_of: list[str] = []


# ------------------------------------------------------------------------------------------------ writing

def _q(text: str) -> str:
    """A double-quoted YAML scalar (our texts never contain quotes or backslashes)."""
    return '"' + text + '"'


def _block(key: str, items: list[str], indent: str = "  ") -> str:
    if not items:
        return ""
    return f"{indent}{key}:\n" + "".join(f"{indent}  - {i}\n" for i in items)


def _literal(text: str, indent: str = "    ") -> str:
    return "".join(indent + line + "\n" if line else "\n" for line in text.splitlines())


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[-_.]", name) if p)


def _group_doc(g: _Group) -> str:
    out = [f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {g.name}\n  title: {_q(g.display)}\n"
           f"  description: {_q(f'The {g.display} {g.type}.')}\n"]
    if g.type in ("team", "sub-team"):
        out.append(f"  annotations:\n    github.com/team-slug: acme/{g.name}\n")
    out.append(f"spec:\n  type: {g.type}\n  profile:\n    displayName: {_q(g.display)}\n"
               f"    email: {g.name}@acme.example\n")
    if g.parent is not None:
        out.append(f"  parent: {g.parent.name}\n")
    if g.children:
        out.append(_block("children", [c.name for c in g.children]))
    else:
        out.append("  children: []\n")
    return "".join(out)


def _user_doc(name: str, display: str, groups: list[str]) -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: {name}\nspec:\n  profile:\n"
            f"    displayName: {_q(display)}\n    email: {name}@acme.example\n" + _block("memberOf", groups))


def _domain_doc(name: str, owner: str, parent: str | None, title: str) -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: {name}\n  title: {_q(title)}\n"
            f"  description: {_q(f'The {title} domain.')}\nspec:\n  owner: {owner}\n"
            f"  type: {'product-group' if parent else 'product-area'}\n"
            + (f"  subdomainOf: {parent}\n" if parent else ""))


def _system_doc(s: _System) -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: {s.name}\n"
            f"  title: {_q(_camel(s.name))}\n  description: {_q(f'The {s.name} system.')}\n"
            f"  tags: [{s.name.split('-')[0]}]\nspec:\n  owner: {s.team.name}\n  domain: {s.domain}\n  type: product\n")


def _comp_doc(c: _Comp) -> str:
    annotations = f"    github.com/project-slug: acme/{c.name}\n"
    if c.type != "library":
        annotations += (f"    backstage.io/kubernetes-id: {c.name}\n"
                        f"    jenkins.io/job-full-name: acme/{c.name}/main\n")
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {c.name}\n"
            f"  description: {_q(f'{c.type.capitalize()} {c.name} of the {c.system.name} system (tier {c.tier}).')}\n"
            f"  tags: [{c.lang}]\n  annotations:\n{annotations}"
            f"spec:\n  type: {c.type}\n  lifecycle: {c.lifecycle}\n  owner: {c.owner}\n  system: {c.system.name}\n"
            + (f"  subcomponentOf: {c.sub_of}\n" if c.sub_of else "")
            + _block("providesApis", c.provides) + _block("consumesApis", c.consumes) + _block("dependsOn", c.depends))


def _api_doc(a: _Api, rng_version: int) -> str:
    camel = _camel(a.name)
    definition = _API_DEFS[a.type].format(title=camel, name=a.name, camel=camel, v=rng_version,
                                          camelLower=camel[:1].lower() + camel[1:], pkg=a.name.replace("-", "_"))
    return (f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: {a.name}\n"
            f"  description: {_q(f'{a.type} API {a.name} of the {a.system.name} system.')}\n  tags: [{a.type}]\n"
            f"spec:\n  type: {a.type}\n  lifecycle: {a.lifecycle}\n  owner: {a.system.team.name}\n"
            f"  system: {a.system.name}\n  definition: |\n" + _literal(definition))


def _res_doc(r: _Res) -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: {r.name}\n"
            f"  description: {_q(f'{r.type} {r.name} of the {r.system.name} system.')}\n"
            f"spec:\n  type: {r.type}\n  owner: {r.system.team.name}\n  system: {r.system.name}\n"
            + _block("dependsOn", r.depends) + _block("dependencyOf", r.dependency_of))


def _location_doc(name: str, targets: list[str], description: str) -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: {name}\n"
            f"  description: {_q(description)}\nspec:\n  type: file\n" + _block("targets", targets))


def _write(path: Path, docs: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n".join(docs), encoding="utf-8")


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ----------------------------------------------------------------------------------------------- generate

def generate(out_dir: Path, entities: int, seed: int = 42) -> dict:
    """Write a synthetic catalog of about `entities` entities into `out_dir` (replacing it); return a summary."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    n = max(200, int(entities))
    rng = random.Random(seed)

    n_bu = max(1, round(n / 2000))
    n_sys = max(2, round(n / 100))
    n_teams = max(2, math.ceil(n_sys / 3))
    n_domains = max(1, round(n / 1000))
    n_users = round(n * 0.15)
    n_apis = round(n * 0.12)
    n_res = round(n * 0.12)

    # --- groups: root -> business units -> teams -> sub-teams
    root = _Group("acme", "organization", None, "Acme")
    bus = [_Group(f"{_BU_WORDS[i % len(_BU_WORDS)]}" + (f"-{i // len(_BU_WORDS) + 1}" if i >= len(_BU_WORDS) else ""),
                  "business-unit", root, _BU_WORDS[i % len(_BU_WORDS)].capitalize()) for i in range(n_bu)]
    teams: list[_Group] = []
    subteams: list[_Group] = []
    sub_of_team: dict[str, list[_Group]] = {}
    for i in range(n_teams):
        word = _TEAM_WORDS[i % len(_TEAM_WORDS)]
        name = f"team-{word}" + (f"-{i // len(_TEAM_WORDS) + 1}" if i >= len(_TEAM_WORDS) else "")
        t = _Group(name, "team", bus[i % n_bu], f"Team {word.capitalize()} {i + 1}")
        teams.append(t)
        subs = [_Group(f"{name}-{k}", "sub-team", t, f"{t.display} / {k}") for k in ("core", "edge")
                [: rng.choices((0, 1, 2), (50, 40, 10))[0]]]
        subteams.extend(subs)
        sub_of_team[name] = subs
    groups = [root, *bus, *teams, *subteams]

    # --- domains, owned by business units; later domains of a BU are sub-domains of its first
    domains: list[tuple[str, str, str | None, str]] = []
    bu_domains: dict[str, list[str]] = {b.name: [] for b in bus}
    for i in range(n_domains):
        bu = bus[i % n_bu]
        area = _AREAS[i % len(_AREAS)]
        name = f"{area}-domain" + (f"-{i // len(_AREAS) + 1}" if i >= len(_AREAS) else "")
        parent = bu_domains[bu.name][0] if bu_domains[bu.name] else None
        bu_domains[bu.name].append(name)
        domains.append((name, bu.name, parent, area.capitalize()))
    all_domains = [d[0] for d in domains]

    # --- systems; the last one is the shared platform (bottom of the stack)
    systems: list[_System] = []
    for i in range(n_sys):
        team = teams[i % n_teams]
        area = "platform" if i == n_sys - 1 else _AREAS[i % len(_AREAS)]
        name = f"{area}-{i + 1:04d}"
        doms = bu_domains[team.parent.name] or all_domains
        systems.append(_System(i, name, team, doms[i % len(doms)]))
    platform = systems[-1]

    n_locations = 1 + n_bu
    n_comps = n - (len(groups) + n_users + len(domains) + n_sys + n_apis + n_res + n_locations)
    if n_comps < n_sys:
        raise ValueError(f"{entities} entities is too small a catalog")

    weights = [rng.uniform(0.5, 1.5) for _ in systems]
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)

    def spread(count: int, minimum: int) -> list[int]:
        per = [minimum] * n_sys
        for idx in rng.choices(range(n_sys), cum_weights=cum, k=count - minimum * n_sys):
            per[idx] += 1
        return per

    # components: at least 3 per system; tiers 0..9 by position
    for s, k in zip(systems, spread(n_comps, 3)):
        for j in range(k):
            role = _COMP_ROLES[j % len(_COMP_ROLES)]
            c = _Comp(f"{s.name}-{role}-{j + 1}", s)
            c.tier = j * TIERS // k
            c.lang = rng.choice(_LANGS)
            c.lifecycle = rng.choices(_LIFECYCLES, _LIFECYCLE_WEIGHTS)[0]
            if c.tier == 0 and rng.random() < 0.3:
                c.type = "website"
            elif c.tier == TIERS - 1 and rng.random() < 0.4:
                c.type = "library"
            subs = sub_of_team[s.team.name]
            if subs and rng.random() < 0.4:
                c.owner = rng.choice(subs).name
            s.comps.append(c)
        starts = [k] * (TIERS + 1)
        for j in range(k - 1, -1, -1):
            starts[s.comps[j].tier] = j
        for t in range(TIERS - 1, -1, -1):      # empty tiers start where the next one does
            starts[t] = min(starts[t], starts[t + 1])
        s.tier_start = starts

    # resources: at least 1 per system; the platform system holds the shared clusters
    for s, k in zip(systems, spread(n_res, 1)):
        for j in range(k):
            rtype, short = rng.choices(_RES_TYPES, _RES_WEIGHTS)[0]
            if s is platform and j < 3:
                rtype, short = ("kubernetes-cluster", "k8s") if j < 2 else ("message-broker", "kafka")
            s.res.append(_Res(f"{s.name}-{short}-{j + 1}", s, rtype))
    shared = [r for r in platform.res if r.type in ("kubernetes-cluster", "message-broker")] or platform.res[:1]
    for s in systems:
        for j, r in enumerate(s.res):
            if j and rng.random() < 0.2:
                r.depends.append(f"resource:{s.res[rng.randrange(j)].name}")      # e.g. replica -> primary
            if s is not platform and rng.random() < 0.25:
                r.depends.append(f"resource:{rng.choice(shared).name}")

    # APIs: at least 1 per system, each provided by a component of its system (tier >= 1 when possible)
    for s, k in zip(systems, spread(n_apis, 1)):
        lo = s.tier_start[1] if s.tier_start[1] < len(s.comps) else 0
        for j in range(k):
            atype = rng.choices(_API_TYPES, _API_WEIGHTS)[0]
            a = _Api(f"{s.name}-{atype}-{j + 1}", s, atype)
            a.lifecycle = rng.choices(_LIFECYCLES, _LIFECYCLE_WEIGHTS)[0]
            a.provider = s.comps[rng.randrange(lo, len(s.comps))]
            a.provider.provides.append(a.name)
            s.apis.append(a)

    def pick_comp(s: _System, above_tier: int) -> _Comp | None:
        start = s.tier_start[min(above_tier + 1, TIERS)]
        if start >= len(s.comps):
            return None
        return s.comps[rng.randrange(start, len(s.comps))]

    n_cycles = 0
    for s in systems:
        later = systems[s.index + 1:]
        for c in s.comps:
            deps: dict[str, None] = {}
            want = rng.choices((2, 3, 4, 5, 6), (30, 25, 20, 15, 10))[0]
            for attempt in range(3 * want):
                if len(deps) >= want:
                    break
                if attempt >= 2 * want:     # still short of distinct targets: any system's resource
                    deps[f"resource:{rng.choice(rng.choice(systems).res).name}"] = None
                    continue
                r = rng.random()
                target = None
                if r < 0.62:
                    top = min(c.tier + 3, TIERS - 1)
                    if c.tier < TIERS - 1:
                        start, end = s.tier_start[c.tier + 1], s.tier_start[top + 1]
                        if start < end:
                            target = s.comps[rng.randrange(start, end)]
                elif r < 0.75 and later:
                    target = pick_comp(rng.choice(later), c.tier)
                if target is not None:
                    deps[f"component:{target.name}"] = None
                else:
                    pool = s.res if rng.random() < 0.85 or not later else rng.choice(later).res
                    deps[f"resource:{rng.choice(pool).name}"] = None
            c.depends = list(deps)
            # API consumption, same direction: providers on lower tiers (same or later systems)
            for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
                src = s if rng.random() < 0.5 or not later else rng.choice(later)
                a = rng.choice(src.apis)
                if a.provider.tier > c.tier and a.name not in c.consumes and a.provider is not c:
                    c.consumes.append(a.name)
            if c.tier and rng.random() < 0.04:
                parent = s.comps[rng.randrange(0, s.tier_start[c.tier])] if s.tier_start[c.tier] else None
                if parent is not None:
                    c.sub_of = parent.name
    # deliberate cycles: for ~0.5% of components c -> d -> e (same system), add e -> c
    for s in systems:
        by_name = {c.name: c for c in s.comps}
        for c in s.comps:
            if rng.random() >= 0.005:
                continue
            d = next((by_name[x[10:]] for x in c.depends if x.startswith("component:") and x[10:] in by_name), None)
            e = next((by_name[x[10:]] for x in d.depends
                      if x.startswith("component:") and x[10:] in by_name), None) if d else None
            if e is not None and e is not c and f"component:{c.name}" not in e.depends:
                e.depends.append(f"component:{c.name}")
                n_cycles += 1
    # a few resources written from the other side (dependencyOf), pointing at a component of their system
    for s in systems:
        for r in s.res:
            if rng.random() < 0.02:
                c = rng.choice(s.comps)
                ref = f"resource:{r.name}"
                if ref not in c.depends:
                    r.dependency_of.append(f"component:{c.name}")

    # users: 1-2 memberships, mostly teams/sub-teams
    team_like = teams + subteams
    users: list[tuple[str, str, list[str]]] = []
    seen: Counter = Counter()
    for i in range(n_users):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        base = f"{first}.{last}"
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}{seen[base]}"
        member = [rng.choice(team_like).name]
        if rng.random() < 0.15:
            extra = rng.choice(bus).name if rng.random() < 0.2 else rng.choice(team_like).name
            if extra not in member:
                member.append(extra)
        users.append((name, f"{first.capitalize()} {last.capitalize()}", member))

    # --- write
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files: list[Path] = []
    root_targets: list[str] = []

    for k, chunk in enumerate(_chunks(groups, PER_FILE), 1):
        p = out_dir / "org" / f"groups-{k:03d}.yaml"
        _write(p, [_group_doc(g) for g in chunk])
        files.append(p)
        root_targets.append(f"./org/groups-{k:03d}.yaml")
    for k, chunk in enumerate(_chunks(users, PER_FILE), 1):
        p = out_dir / "org" / f"users-{k:03d}.yaml"
        _write(p, [_user_doc(*u) for u in chunk])
        files.append(p)
        root_targets.append(f"./org/users-{k:03d}.yaml")
    p = out_dir / "org" / "domains.yaml"
    _write(p, [_domain_doc(*d) for d in domains])
    files.append(p)
    root_targets.append("./org/domains.yaml")

    systems_of_team: dict[str, list[_System]] = {}
    for s in systems:
        systems_of_team.setdefault(s.team.name, []).append(s)
    for bu in bus:
        bu_targets: list[str] = []
        for t in bu.children:
            docs: list[str] = []
            for s in systems_of_team.get(t.name, []):
                docs.append(_system_doc(s))
                docs.extend(_comp_doc(c) for c in s.comps)
                docs.extend(_api_doc(a, rng.randrange(10)) for a in s.apis)
                docs.extend(_res_doc(r) for r in s.res)
            for k, chunk in enumerate(_chunks(docs, PER_FILE), 1):
                fname = "catalog-info.yaml" if k == 1 else f"catalog-info-{k}.yaml"
                p = out_dir / "teams" / bu.name / t.name / fname
                _write(p, chunk)
                files.append(p)
                bu_targets.append(f"./{t.name}/{fname}")
        p = out_dir / "teams" / bu.name / "catalog-info.yaml"
        _write(p, [_location_doc(f"{bu.name}-catalog", bu_targets, f"Catalog files of the {bu.display} business unit.")])
        files.append(p)
        root_targets.append(f"./teams/{bu.name}/catalog-info.yaml")
    p = out_dir / "catalog-info.yaml"
    _write(p, [_location_doc("synthetic-catalog", root_targets, f"Synthetic catalog of {n} entities (seed {seed}).")])
    files.append(p)

    comps = [c for s in systems for c in s.comps]
    apis = [a for s in systems for a in s.apis]
    res = [r for s in systems for r in s.res]
    by_kind = {"Component": len(comps), "API": len(apis), "Resource": len(res), "System": n_sys,
               "Domain": len(domains), "Group": len(groups), "User": len(users), "Location": n_locations}
    relations = {
        "ownedBy": len(comps) + len(apis) + len(res) + n_sys + len(domains),
        "partOf": len(comps) + len(apis) + len(res) + n_sys + sum(1 for d in domains if d[2])
        + sum(1 for c in comps if c.sub_of),
        "dependsOn": sum(len(c.depends) for c in comps) + sum(len(r.depends) + len(r.dependency_of) for r in res),
        "providesApi": sum(len(c.provides) for c in comps),
        "consumesApi": sum(len(c.consumes) for c in comps),
        "memberOf": sum(len(u[2]) for u in users),
        "childOf": len(groups) - 1,
    }
    total_rel = sum(relations.values())
    return {
        "out_dir": str(out_dir), "seed": seed, "entities": sum(by_kind.values()), "by_kind": by_kind,
        "relations": total_rel, "relations_by_type": relations,
        # each group edge is written from both sides (parent and children): declarations = distinct + childOf
        "relations_declared": total_rel + relations["childOf"],
        "relations_per_entity": round(total_rel / sum(by_kind.values()), 2),
        "cycles": n_cycles, "files": len(files), "seconds": round(time.perf_counter() - started, 2),
    }


# ------------------------------------------------------------------------------------------------- mutate

_DESC = re.compile(r'^(  description: ")(.*)(")$', re.M)


def mutate(out_dir: Path, fraction: float, seed: int = 7) -> dict:
    """Edit the description of ~10% of the entities (at least one) in `fraction` of the entity files.

    Location files are left alone, so the set of files and entities stays the same; only content changes.
    Returns {"files": files changed, "entities": entities changed}.
    """
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    candidates = sorted(p for p in out_dir.rglob("*.yaml") if "kind: Location" not in p.read_text(encoding="utf-8")[:200])
    chosen = rng.sample(candidates, max(1, round(len(candidates) * fraction))) if candidates and fraction > 0 else []
    changed = 0
    for p in sorted(chosen):
        text = p.read_text(encoding="utf-8")
        matches = list(_DESC.finditer(text))
        if not matches:
            continue
        picked = set(rng.sample(range(len(matches)), max(1, len(matches) // 10)))
        tag = rng.randrange(1_000_000)

        def edit(m: re.Match, counter=iter(range(len(matches)))) -> str:
            i = next(counter)
            if i not in picked:
                return m.group(0)
            return f"{m.group(1)}{m.group(2)} Revised {tag}.{m.group(3)}"

        p.write_text(_DESC.sub(edit, text), encoding="utf-8")
        changed += len(picked)
    return {"files": len(chosen), "entities": changed}


# ---------------------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--entities", type=int, default=10_000, help="about how many entities (default 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mutate", type=float, metavar="FRACTION",
                        help="instead of generating, edit descriptions in this fraction of OUT_DIR's files")
    args = parser.parse_args(argv)
    if args.mutate is not None:
        summary = mutate(args.out_dir, args.mutate, args.seed)
    else:
        summary = generate(args.out_dir, args.entities, args.seed)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
