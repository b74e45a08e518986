"""The git provider's pure part: CODEOWNERS (GitHub/GitLab syntax) parsed and matched; no git, no graph.

The last matching rule wins, as on GitHub. `@org/team` becomes `group:default/team`, `@user`
`user:default/user`, an e-mail `user:default/<local part>`, so they compare with Backstage owner refs.
"""
from __future__ import annotations

import re


Rule = tuple[re.Pattern, list[str]]


def _pattern(glob: str) -> re.Pattern:
    """gitignore-style: `/x` and `a/b` anchor at the root, `x` matches at any depth, `dir/` its contents."""
    anchored = glob.startswith("/") or "/" in glob.strip("/")
    body = glob.strip("/")
    out, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "^" if anchored else "^(?:.*/)?"
    return re.compile(prefix + "".join(out) + "(?:/.*)?$")


def parse_codeowners(text: str) -> list[Rule]:
    """Rules in file order; comments, blank lines and GitLab `[Section]` headers are skipped."""
    rules: list[Rule] = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("[") or line.startswith("^["):
            continue
        parts = line.split()
        glob, owners = parts[0], parts[1:]
        if glob == "*":
            rules.append((re.compile(r"^.*$"), owners))
        else:
            rules.append((_pattern(glob), owners))
    return rules


def owners_for(rules: list[Rule], path: str) -> list[str]:
    """The owners of `path` (relative to the repository root, `/`-separated): the last matching rule's."""
    path = path.lstrip("/")
    found: list[str] = []
    for pattern, owners in rules:
        if pattern.match(path):
            found = owners
    return found


def owner_ref(owner: str) -> str:
    """A CODEOWNERS owner as a Backstage entity ref (lower-case)."""
    owner = owner.strip().lower()
    if owner.startswith("@") and "/" in owner:
        return "group:default/" + owner.split("/", 1)[1]
    if owner.startswith("@"):
        return "user:default/" + owner[1:]
    if "@" in owner:
        return "user:default/" + owner.split("@", 1)[0]
    return owner


def disagrees(declared_owner: str | None, codeowners: list[str]) -> bool:
    """True when CODEOWNERS names owners and the declared spec.owner is not one of them."""
    return bool(codeowners) and (declared_owner or "").lower() not in codeowners
