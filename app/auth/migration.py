"""Moving sign-ins that were matched by name onto bindings (`trellis users migrate-bindings`).

Why: before bindings, OIDC and GitHub sign-ins were matched by username (and local accounts by name) on every
sign-in. With the safe defaults those matches no longer happen, so a person who signed in that way, admins
included, would find no access after the upgrade. The audit log remembers each successful sign-in (the
account's provider id as the actor, the catalog user as the target), so what already happened can be
turned into bindings: each OIDC/GitHub account becomes bound to the user it last signed in as, and each local
account without a catalog link is linked to the user its name resolved to. Nothing new is matched: an account
that never signed in, or that signed in as two different users, is left for an operator (`trellis users
bind`). `--dry-run` shows the plan first; every binding made is audited.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from app.auth.signin import GITHUB_DEFAULTS
from graph import accounts as account_store
from graph import audit as audit_store
from graph import bindings, identity

if TYPE_CHECKING:
    from graph.driver import Graph

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
ACTOR = "cli:migrate-bindings"


@dataclass(frozen=True)
class Step:
    account: str          # the audit actor: oidc:<sub>, github:<id>, local:<username>
    user_ref: str | None
    action: str           # bind | link | already | skip
    reason: str = ""
    issuer: str = ""


def oidc_issuer(discovery_url: str | None) -> str | None:
    """The issuer an OIDC discovery URL belongs to (OpenID Connect Discovery: issuer + the well-known path)."""
    if discovery_url and discovery_url.rstrip("/").endswith(DISCOVERY_SUFFIX):
        return discovery_url.rstrip("/")[: -len(DISCOVERY_SUFFIX)]
    return None


def github_issuer(api_url: str) -> str:
    """How sign-in records a GitHub instance: its API base URL with one trailing slash."""
    return api_url.rstrip("/") + "/"


def issuers_from_auth(auth: object) -> dict[str, str | None]:
    """{"oidc": issuer or None, "github": API URL or None} from the portal's `auth:` section."""
    auth = auth if isinstance(auth, dict) else {}
    oidc = auth.get("oidc") if isinstance(auth.get("oidc"), dict) else None
    github = auth.get("github") if isinstance(auth.get("github"), dict) else None
    return {"oidc": oidc_issuer(oidc.get("discovery_url")) if oidc else None,
            "github": github_issuer(github.get("api_url") or GITHUB_DEFAULTS["api_url"]) if github else None}


def plan(graph: "Graph", issuers: dict[str, str | None]) -> list[Step]:
    """What the migration would do, one step per account the audit log saw sign in as a catalog user."""
    seen: dict[str, dict] = {}
    for row in bindings.past_signins(graph):
        entry = seen.setdefault(row["actor"], {"refs": [], "issuer": None})
        if row["user_ref"] not in entry["refs"]:
            entry["refs"].append(row["user_ref"])
        try:
            details = json.loads(row["details"] or "{}")
        except ValueError:
            details = {}
        if isinstance(details, dict) and details.get("issuer"):
            entry["issuer"] = str(details["issuer"])
    return [_step(graph, actor, entry, issuers) for actor, entry in sorted(seen.items())]


def _step(graph: "Graph", actor: str, entry: dict, issuers: dict[str, str | None]) -> Step:
    provider, _, subject = actor.partition(":")
    refs = entry["refs"]
    if len(refs) > 1:
        return Step(actor, None, "skip", f"signed in as {' and '.join(refs)}: bind it by hand")
    ref = refs[0]
    if not identity.user_exists(graph, ref):
        return Step(actor, ref, "skip", f"{ref} is no longer in the catalog")
    if provider == "local":
        account = account_store.get_account(graph, subject)
        if account is None:
            return Step(actor, ref, "skip", "the local account no longer exists")
        if account.get("user_ref") == ref:
            return Step(actor, ref, "already", "linked")
        if account.get("user_ref"):
            return Step(actor, ref, "skip", f"the account is linked to {account['user_ref']}")
        return Step(actor, ref, "link")
    issuer = entry["issuer"] or issuers.get(provider)
    if not issuer:
        flag = "--oidc-issuer" if provider == "oidc" else "--github-api-url"
        return Step(actor, ref, "skip", f"{provider} is not configured: give {flag}")
    bound = bindings.find_binding(graph, provider, issuer, subject)
    if bound is not None:
        if bound["user_ref"] == ref:
            return Step(actor, ref, "already", "bound", issuer)
        return Step(actor, ref, "skip", f"the account is bound to {bound['user_ref']}", issuer)
    return Step(actor, ref, "bind", "", issuer)


def migrate(graph: "Graph", issuers: dict[str, str | None], *, dry_run: bool = False) -> list[dict]:
    """Carry out `plan` (unless dry_run); returns the steps as dicts, with what was done."""
    out = []
    for step in plan(graph, issuers):
        if not dry_run and step.action in ("bind", "link"):
            provider, _, subject = step.account.partition(":")
            try:
                if step.action == "bind":
                    bindings.bind(graph, provider=provider, issuer=step.issuer, subject=subject,
                                  user_ref=step.user_ref or "", via="migration", created_by=ACTOR)
                else:
                    account_store.set_user_ref(graph, subject, step.user_ref)
            except (bindings.BindingConflict, account_store.AccountNotFound) as exc:
                step = Step(step.account, step.user_ref, "skip", str(exc), step.issuer)
            else:
                audit_store.record_event(graph, action=step.action, outcome="ok", actor=ACTOR,
                                         target=step.user_ref, details={"account": step.account,
                                                                        "issuer": step.issuer or None})
        out.append(asdict(step))
    return out
