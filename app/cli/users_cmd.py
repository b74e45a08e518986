"""Local account commands: `trellis users add|passwd|disable|enable|list`."""
from __future__ import annotations

import sys

import click

from app.auth import accounts
from app.cli.catalog_cmd import emit_json, fail, open_graph


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
    from app.auth.passwords import check_password_policy

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
