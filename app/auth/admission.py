"""Who may sign in at all through OIDC or GitHub: allow-lists checked before any catalog user is looked up.

Why: proving who you are at github.com (or at a multi-tenant IdP) says nothing about belonging to this
organisation; without an allow-list, any GitHub account in the world completes the flow. Configured per
provider and checked on every sign-in (a person who left the organisation is refused even when bound):

- OIDC `allowed_domains: [example.com]`: the ID token's `hd` claim (Google Workspace's hosted domain) or the
  domain of an e-mail address the provider marked verified must be one of them.
  `required_claims: {groups: platform-team, tenant: acme}`: each claim must equal the value, or, when the
  claim is a list, contain it (a list of values: any one of them). All listed claims are required.
- GitHub `allowed_organizations: [acme]` / `allowed_teams: [acme/platform]`: active membership, asked of
  GitHub's REST API with the signing-in user's own token (`GET /user/memberships/orgs/{org}`,
  `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`; both need the `read:org` scope, which is then
  requested). Membership in any one listed organisation or team admits. GitHub not answering is a failed
  sign-in, never an admission.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_TEAM = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SCALAR = (str, int, float, bool)


class AdmissionUnavailable(RuntimeError):
    """The allow-list could not be checked (the provider did not answer as documented)."""


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{where} must be a list of names")
    return tuple(v.strip() for v in value)


@dataclass(frozen=True)
class OidcAdmission:
    allowed_domains: tuple[str, ...] = ()
    required_claims: tuple[tuple[str, tuple], ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.allowed_domains or self.required_claims)

    @classmethod
    def from_config(cls, section: dict) -> "OidcAdmission":
        """`auth.oidc.allowed_domains` / `required_claims`; ValueError names the key."""
        domains = tuple(d.lower().lstrip("@") for d in _strings(section.get("allowed_domains"),
                                                                  "auth.oidc.allowed_domains"))
        for domain in domains:
            if not _DOMAIN.match(domain):
                raise ValueError(f"auth.oidc.allowed_domains: {domain!r} is not a domain name")
        raw = section.get("required_claims") or {}
        if not isinstance(raw, dict):
            raise ValueError("auth.oidc.required_claims must map claim names to a value or a list of values")
        claims = []
        for name, wanted in raw.items():
            values = tuple(wanted) if isinstance(wanted, (list, tuple)) else (wanted,)
            if not isinstance(name, str) or not name or not values or not all(
                    isinstance(v, _SCALAR) for v in values):
                raise ValueError(f"auth.oidc.required_claims.{name}: give a value or a list of values")
            claims.append((name, values))
        return cls(domains, tuple(claims))

    def refusal(self, claims: dict, verified_emails: tuple[str, ...]) -> str | None:
        """Why this ID token's person may not sign in, or None."""
        if self.allowed_domains:
            seen = {str(claims["hd"]).lower()} if isinstance(claims.get("hd"), str) else set()
            seen |= {e.rsplit("@", 1)[1].lower() for e in verified_emails if "@" in e}
            if not seen & set(self.allowed_domains):
                shown = ", ".join(sorted(seen)) or "no verified e-mail domain"
                return (f"this portal admits accounts of {', '.join(self.allowed_domains)} only, and yours is "
                        f"{shown}")
        for name, wanted in self.required_claims:
            have = claims.get(name)
            values = have if isinstance(have, list) else [have]
            if not any(_same(v, w) for v in values for w in wanted):
                return f"your account lacks what this portal requires (the {name!r} claim)"
        return None


def _same(have: object, wanted: object) -> bool:
    if isinstance(wanted, bool) or isinstance(have, bool):
        return have is wanted
    return have == wanted


@dataclass(frozen=True)
class GithubAdmission:
    organizations: tuple[str, ...] = ()
    teams: tuple[tuple[str, str], ...] = ()          # (org, team slug)

    @property
    def configured(self) -> bool:
        return bool(self.organizations or self.teams)

    @classmethod
    def from_config(cls, section: dict) -> "GithubAdmission":
        """`auth.github.allowed_organizations` / `allowed_teams` (org/team-slug); ValueError names the key."""
        orgs = _strings(section.get("allowed_organizations"), "auth.github.allowed_organizations")
        for org in orgs:
            if not _ORG.match(org):
                raise ValueError(f"auth.github.allowed_organizations: {org!r} is not a GitHub organisation name")
        teams = []
        for team in _strings(section.get("allowed_teams"), "auth.github.allowed_teams"):
            org, _, slug = team.partition("/")
            if not _ORG.match(org) or not _TEAM.match(slug):
                raise ValueError(f"auth.github.allowed_teams: {team!r} must be <organisation>/<team-slug>")
            teams.append((org, slug.lower()))
        return cls(orgs, tuple(teams))

    def refusal(self, login: str, get: Callable[[str], tuple[int, object]]) -> str | None:
        """Why this GitHub user may not sign in, or None. `get(path)` asks GitHub's API with the user's token
        and returns (status, JSON body); AdmissionUnavailable when GitHub answers anything undocumented."""
        for org in self.organizations:
            if _active(get(f"user/memberships/orgs/{quote(org, safe='')}"), f"organisation {org}"):
                return None
        for org, slug in self.teams:
            path = f"orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}/memberships/{quote(login, safe='')}"
            if _active(get(path), f"team {org}/{slug}"):
                return None
        listed = [f"organisation {o}" for o in self.organizations] + [f"team {o}/{s}" for o, s in self.teams]
        return f"this portal admits members of the GitHub {' or '.join(listed)} only"


def _active(answer: tuple[int, object], what: str) -> bool:
    status, body = answer
    if status == 200:
        return isinstance(body, dict) and body.get("state") == "active"
    if status in (403, 404):      # not a member (or the org restricts this OAuth app): not admitted
        return False
    raise AdmissionUnavailable(f"GitHub answered {status} when asked about the {what}")
