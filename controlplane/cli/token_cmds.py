"""``yunguan token``: bearer tokens for the HTTP API. ``create`` prints the token once (stdout, nothing else there);
the store keeps only its SHA-256. Creation and revocation are in the operation log, never the token."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from controlplane.api.tokens import Role, TokenError, create_token, list_tokens, revoke_token
from controlplane.cli.context import EXIT_INPUT, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.clock import CST

app = typer.Typer(help="HTTP API tokens (API 令牌): create, list, revoke.", no_args_is_help=True)


def _shown(when: dt.datetime) -> str:
    return when.astimezone(CST).isoformat(timespec="minutes")


@app.command("create")
@guarded
def create(  # typer passes options by name
    ctx: typer.Context,
    *,
    role: Annotated[Role, typer.Option("--role", help="admin, operator, auditor, vendor or unit")],
    vendor: Annotated[str | None, typer.Option("--vendor", help="vendor tokens: the vendor it speaks for")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="unit tokens: the department it speaks for")] = None,
    expires: Annotated[
        int | None, typer.Option("--expires", min=1, help="days it is valid (default: api.token_days)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="what it is for (default: the role)")] = None,
) -> None:
    """Make a token and print it once. Vendor tokens are bound to one vendor, unit tokens to one department."""
    st = state(ctx)
    rt = st.runtime()
    days = expires or rt.settings.api.token_days
    if days > rt.settings.api.token_max_days:
        st.err.print(
            f"{st.t('error')}: --expires {days} is above api.token_max_days ({rt.settings.api.token_max_days})",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(EXIT_INPUT)
    try:
        with rt.engine.begin() as conn:
            token, text = create_token(
                conn,
                rt.audit,
                role=role,
                name=name or role.value,
                days=days,
                now=rt.clock.now(),
                actor=st.actor,
                vendor=vendor,
                unit=unit,
            )
    except TokenError as exc:
        st.err.print(f"{st.t('error')}: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    scope = f": {token.vendor or token.unit}" if token.vendor or token.unit else ""
    print_msg(st, "token_created", id=token.id, role=token.role.value, scope=scope, expires=_shown(token.expires))
    st.out.out(text, highlight=False)


@app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """Every token: id, name, role, scope, when made and by whom, expiry and status (never the token)."""
    st = state(ctx)
    rt = st.runtime()
    now = rt.clock.now()
    with rt.engine.connect() as conn:
        tokens = list_tokens(conn)
    if not tokens and output is Format.TABLE:
        print_msg(st, "tokens_none")
        return
    rows: list[dict[str, Any]] = [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role.value,
            "scope": t.vendor or t.unit or "",
            "created": _shown(t.created),
            "created_by": t.created_by,
            "expires": _shown(t.expires),
            "status": t.status(now),
        }
        for t in tokens
    ]
    keys = ("id", "name", "role", "scope", "created", "created_by", "expires", "status")
    emit(st.out, output, rows, [(k, st.t(f"token.{k}")) for k in keys], st.t("tokens_title", n=len(rows)))


@app.command("revoke")
@guarded
def revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="the token's id (yunguan token list)")]
) -> None:
    """Revoke a token: a running agent refuses it within api.token_cache_s (5 s)."""
    st = state(ctx)
    rt = st.runtime()
    try:
        with rt.engine.begin() as conn:
            token = revoke_token(conn, rt.audit, token_id, now=rt.clock.now(), actor=st.actor)
    except TokenError as exc:
        st.err.print(f"{st.t('error')}: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    print_msg(st, "token_revoked", id=token.id, name=token.name, seconds=f"{rt.settings.api.token_cache_s:g}")
