"""/admin (role grants), /admin/audit (the audit log), /settings/tokens (personal API tokens)."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from app.admin import bp
from app.auth import access, tokens
from app.auth.audit import audit
from app.auth.principal import current_principal
from app.config import ROLES
from app.graph_access import get_graph
from graph import audit as audit_log
from graph import roles as role_store
from graph import tokens as token_store
from graph.model import RefError, parse_ref

AUDIT_PAGE = 100


def principal_key(raw: str) -> str:
    """A role grant's principal: user:/group: refs canonicalised, local:/service: names lower-cased."""
    raw = (raw or "").strip()
    prefix, _, rest = raw.partition(":")
    prefix = prefix.lower()
    if prefix in ("local", "service") and rest.strip():
        name = rest.strip().lower()
        if len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name):
            raise ValueError(f"{raw!r}: names are 1-64 of a-z, 0-9, '.', '_', '-'")
        return f"{prefix}:{name}"
    if prefix in ("user", "group"):
        try:
            return str(parse_ref(raw))
        except RefError as exc:
            raise ValueError(f"{raw!r}: {exc}") from None
    raise ValueError(f"{raw!r} is not a principal: use user:ns/name, group:ns/name, local:username or "
                     "service:name")


@bp.get("/admin")
def roles_page():
    access.require("admin")
    return render_template(
        "admin/roles.html", grants=role_store.list_grants(get_graph()), roles=ROLES,
        configured=sorted((current_app.config.get("TRELLIS_ROLES") or {}).items()),
        default_role=current_app.config.get("TRELLIS_DEFAULT_ROLE"),
        guest_role=current_app.config.get("TRELLIS_GUEST_ROLE"),
        permissions=current_app.config.get("TRELLIS_PERMISSIONS") or {},
        rules=current_app.config.get("TRELLIS_CATALOG_RULES") or [],
    )


@bp.post("/admin/roles")
def grant_role():
    access.require("admin")
    role = request.form.get("role") or ""
    try:
        key = principal_key(request.form.get("principal") or "")
        if role not in ROLES:
            raise ValueError(f"{role!r} is not a role; use one of {', '.join(ROLES)}")
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.roles_page")), 303
    role_store.grant_role(get_graph(), key, role, current_principal().id)
    access.forget_subjects()
    audit("grant_role", "ok", target=key, details={"role": role})
    flash(f"{key} is now {role}.", "ok")
    return redirect(url_for("admin.roles_page")), 303


@bp.post("/admin/roles/revoke")
def revoke_role():
    access.require("admin")
    key = (request.form.get("principal") or "").strip()
    if role_store.revoke_role(get_graph(), key):
        access.forget_subjects()
        audit("revoke_role", "ok", target=key)
        flash(f"Revoked the grant of {key}.", "ok")
    else:
        flash(f"{key} had no grant made on this page.", "error")
    return redirect(url_for("admin.roles_page")), 303


@bp.get("/admin/audit")
def audit_page():
    access.require("admin")
    args = request.args
    before = args.get("before", type=int)
    filters = {k: (args.get(k) or "").strip() or None for k in ("actor", "action", "outcome")}
    events = audit_log.list_events(get_graph(), before=before, limit=AUDIT_PAGE + 1, **filters)
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    older = url_for("admin.audit_page", before=events[-1]["at"], **{k: v for k, v in filters.items() if v}) \
        if more and events else None
    return render_template("admin/audit.html", events=events, filters=filters, older=older)


# ------------------------------------------------------------------------------ personal API tokens

def _my_owner() -> str:
    principal = current_principal()
    if principal is None or principal.provider in ("guest", "token"):
        abort(403, description="Personal API tokens belong to a signed-in person; sign in first.")
    if not principal.user_ref:
        abort(403, description="Your sign-in is not linked to a User entity in the catalog, so a personal "
                               "token would have no owner; ask an admin for a service token instead.")
    return principal.user_ref


@bp.get("/settings/tokens")
def tokens_page():
    access.require("read")
    principal = current_principal()
    owner = principal.user_ref if principal else None
    mine = token_store.list_tokens(get_graph(), owner) if owner else []
    for t in mine:
        t["status"] = tokens.token_status(t)
    return render_template("admin/tokens.html", tokens=mine, owner=owner, scopes=tokens.SCOPES,
                           is_admin=access.can("admin"), new_token=None)


@bp.post("/settings/tokens")
def create_token():
    access.require("read")
    owner = _my_owner()
    scopes = request.form.getlist("scopes")
    if "admin" in scopes and not access.can("admin"):
        abort(403, description="Only admins may create tokens with the admin scope.")
    try:
        ttl = int(request.form.get("ttl_days") or 90)
        token, record = tokens.issue_token(get_graph(), name=request.form.get("name") or "", owner=owner,
                                           kind="personal", scopes=scopes, ttl_days=ttl,
                                           issued_by=current_principal().id)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.tokens_page")), 303
    audit("create_token", "ok", target=owner, details={"token": record["token_id"], "scopes": record["scopes"]})
    mine = token_store.list_tokens(get_graph(), owner)
    for t in mine:
        t["status"] = tokens.token_status(t)
    # Shown once, on this response only; it is never stored or retrievable.
    return render_template("admin/tokens.html", tokens=mine, owner=owner, scopes=tokens.SCOPES,
                           is_admin=access.can("admin"), new_token=token)


@bp.post("/settings/tokens/<token_id>/revoke")
def revoke_token(token_id: str):
    access.require("read")
    owner = _my_owner()
    record = token_store.find_token(get_graph(), token_id) if tokens.is_token_id(token_id) else None
    if record is None or (record.get("owner") != owner and not access.can("admin")):
        abort(404, description="No such token of yours.")
    token_store.revoke_token(get_graph(), token_id)
    audit("revoke_token", "ok", target=record.get("owner"), details={"token": token_id})
    flash("Token revoked.", "ok")
    return redirect(url_for("admin.tokens_page")), 303


@bp.app_template_filter("audit_time")
def audit_time(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
