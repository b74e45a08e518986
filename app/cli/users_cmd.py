"""Account commands: local accounts (`trellis users add|passwd|disable|enable|list|link`) and the bindings of
OIDC/GitHub accounts to catalog users (`trellis users bind|unbind|bindings|migrate-bindings`)."""
from __future__ import annotations

import sys

import click

from app.auth import accounts
from app.cli.catalog_cmd import emit_json, fail, open_graph
from app.auth.passwords import check_password_policy
from graph import accounts as store
from app.cli.catalog_cmd import canonical
from app.auth import migration
from app.config import ConfigError, load_settings
from graph import bindings, identity
from graph.audit import record_event


def _password_options(f):
    return click.option(
        "--password-stdin", is_flag=True,
        help="Read the password from the first line of standard input instead of prompting.",
    )(f)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("no password on standard input")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _username(username: str) -> str:
    try:
        return accounts.normalize_username(username)
    except ValueError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable: fail() exits


def _check_policy(password: str) -> None:
    try:
        check_password_policy(password)
    except ValueError as exc:
        fail(str(exc))


@click.group()
def users() -> None:
    """Local accounts (username and password sign-in)."""


@users.command()
@click.argument("username")
@click.option("--user-ref", help="The catalog user this account belongs to, e.g. user:default/jane.")
@_password_options
def add(username: str, user_ref: str | None, password_stdin: bool) -> None:
    """Create an account named USERNAME (stored lower-cased)."""
    name = _username(username)
    password = _read_password(password_stdin)
    _check_policy(password)
    with open_graph() as graph:
        try:
            accounts.add_user(graph, name, password, user_ref=user_ref)
        except (accounts.AccountExists, ValueError) as exc:
            fail(str(exc))
    click.echo(f"Created account {name}" + (f" ({user_ref})" if user_ref else ""))


@users.command()
@click.argument("username")
@_password_options
def passwd(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME."""
    name = _username(username)
    password = _read_password(password_stdin)
    _check_policy(password)
    with open_graph() as graph:
        try:
            accounts.change_password(graph, name, password)
        except (accounts.AccountNotFound, ValueError) as exc:
            fail(str(exc))
    click.echo(f"Password changed for {name}")


def _set_enabled(username: str, enabled: bool) -> None:
    name = _username(username)
    with open_graph() as graph:
        try:
            (accounts.enable_user if enabled else accounts.disable_user)(graph, name)
        except accounts.AccountNotFound as exc:
            fail(str(exc))
    click.echo(f"{'Enabled' if enabled else 'Disabled'} account {name}")


@users.command()
@click.argument("username")
def disable(username: str) -> None:
    """Stop USERNAME from signing in."""
    _set_enabled(username, False)


@users.command()
@click.argument("username")
def enable(username: str) -> None:
    """Let a disabled USERNAME sign in again."""
    _set_enabled(username, True)


@users.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the accounts as JSON.")
def list_(as_json: bool) -> None:
    """Every local account (never the password hashes)."""
    with open_graph() as graph:
        rows = accounts.list_users(graph)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No accounts.")
        return
    table = [("USERNAME", "STATUS", "USER REF")]
    table += [(r["username"], "disabled" if r["disabled"] else "enabled", r["user_ref"] or "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[2])


@users.command()
@click.argument("username")
@click.argument("user_ref", required=False)
@click.option("--unlink", is_flag=True, help="Remove the link instead.")
def link(username: str, user_ref: str | None, unlink: bool) -> None:
    """Link the local account USERNAME to the catalog user USER_REF (e.g. user:default/jane)."""
    name = _username(username)
    if unlink == bool(user_ref):
        fail("give a USER_REF to link, or --unlink (not both)")
    with open_graph() as graph:
        try:
            store.set_user_ref(graph, name, _user_ref(user_ref) if user_ref else None)
        except store.AccountNotFound as exc:
            fail(str(exc))
    click.echo(f"Unlinked account {name}" if unlink else f"Linked account {name} to {_user_ref(user_ref)}")


def _user_ref(value: str) -> str:
    ref = canonical(value)
    if not ref.startswith("user:"):
        fail(f"{value!r} is not a user ref (user:<namespace>/<name>)")
    return ref


def _issuer(provider: str, issuer: str | None) -> str:
    """The issuer given, else the one of the portal's configured provider (TRELLIS_CONFIG's auth section)."""
    if issuer:
        return migration.github_issuer(issuer) if provider == "github" else issuer.rstrip("/")
    configured = migration.issuers_from_auth(_auth_section()).get(provider)
    if not configured:
        fail(f"{provider} is not configured in TRELLIS_CONFIG: give --issuer")
    return configured or ""


def _auth_section() -> dict:
    try:
        return load_settings({"SECRET_KEY": "cli"})["TRELLIS_AUTH"]
    except ConfigError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable


_PROVIDER = click.option("--provider", type=click.Choice(["oidc", "github"]), required=True)
_SUBJECT = click.option("--subject", required=True,
                        help="The account's immutable id: the OIDC `sub`, or the GitHub numeric user id.")
_ISSUER = click.option("--issuer", help="OIDC issuer or GitHub API URL (default: the configured provider's).")


@users.command()
@click.argument("user_ref")
@_PROVIDER
@_SUBJECT
@_ISSUER
def bind(user_ref: str, provider: str, subject: str, issuer: str | None) -> None:
    """Bind an OIDC or GitHub account to the catalog user USER_REF: it signs in as that user from now on."""
    ref = _user_ref(user_ref)
    issuer_value = _issuer(provider, issuer)
    with open_graph() as graph:
        if not identity.user_exists(graph, ref):
            fail(f"{ref} is not a User in the catalog")
        try:
            made = bindings.bind(graph, provider=provider, issuer=issuer_value, subject=subject.strip(),
                                 user_ref=ref, via="operator", created_by="cli")
        except bindings.BindingConflict as exc:
            fail(f"{exc}; run `trellis users unbind` first to move it")
        if made:
            record_event(graph, action="bind", outcome="ok", actor="cli", target=ref,
                         details={"account": f"{provider}:{subject.strip()}", "issuer": issuer_value})
    click.echo(f"{'Bound' if made else 'Already bound:'} {provider} account {subject.strip()} ({issuer_value}) "
               f"to {ref}")


@users.command()
@_PROVIDER
@_SUBJECT
@_ISSUER
def unbind(provider: str, subject: str, issuer: str | None) -> None:
    """Remove an account's binding: its next sign-in is resolved afresh (or refused)."""
    issuer_value = _issuer(provider, issuer)
    with open_graph() as graph:
        if not bindings.unbind(graph, provider, issuer_value, subject.strip()):
            fail(f"no binding for {provider} account {subject.strip()} ({issuer_value})")
        record_event(graph, action="unbind", outcome="ok", actor="cli",
                     details={"account": f"{provider}:{subject.strip()}", "issuer": issuer_value})
    click.echo(f"Unbound {provider} account {subject.strip()}")


@users.command(name="bindings")
@click.option("--user-ref", help="Only this catalog user's bindings.")
@click.option("--json", "as_json", is_flag=True, help="Print the bindings as JSON.")
def bindings_(user_ref: str | None, as_json: bool) -> None:
    """Every OIDC/GitHub account bound to a catalog user."""
    with open_graph() as graph:
        rows = bindings.list_bindings(graph, _user_ref(user_ref) if user_ref else None)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No bindings.")
        return
    for r in rows:
        click.echo(f"{r['user_ref']}  {r['provider']}:{r['subject']}  ({r['issuer']}, {r['username'] or '-'}, "
                   f"via {r['via']})")


@users.command(name="migrate-bindings")
@click.option("--dry-run", is_flag=True, help="Show what would be bound and linked; change nothing.")
@click.option("--oidc-issuer", help="The OIDC issuer of past sign-ins (default: from auth.oidc.discovery_url).")
@click.option("--github-api-url", help="The GitHub API of past sign-ins (default: auth.github.api_url).")
@click.option("--json", "as_json", is_flag=True, help="Print the steps as JSON.")
def migrate_bindings(dry_run: bool, oidc_issuer: str | None, github_api_url: str | None, as_json: bool) -> None:
    """Bind each account that signed in before (the audit log) to the user it signed in as.

    Run once after upgrading from username matching, so nobody (admins included) loses access.
    """
    issuers = migration.issuers_from_auth(_auth_section())
    if oidc_issuer:
        issuers["oidc"] = oidc_issuer.rstrip("/")
    if github_api_url:
        issuers["github"] = migration.github_issuer(github_api_url)
    with open_graph() as graph:
        steps = migration.migrate(graph, issuers, dry_run=dry_run)
    if as_json:
        emit_json(steps)
        return
    verbs = {"bind": "would bind" if dry_run else "bound", "link": "would link" if dry_run else "linked"}
    for step in steps:
        verb = verbs.get(step["action"], step["action"])
        note = f" ({step['reason']})" if step["reason"] else ""
        click.echo(f"{verb:12} {step['account']} -> {step['user_ref'] or '-'}{note}")
    done = sum(1 for s in steps if s["action"] in ("bind", "link"))
    click.echo(f"{done} account(s) {'to migrate' if dry_run else 'migrated'}, "
               f"{sum(1 for s in steps if s['action'] == 'skip')} skipped")
