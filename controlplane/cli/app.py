"""The ``yunguan`` command: operator CLI entry point and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli import (
    audit_cmds,
    enforce_cmds,
    equipment_cmds,
    findings_cmds,
    ledger_cmds,
    policy_cmds,
    reconcile_cmds,
    report_cmds,
    terminate_cmds,
    token_cmds,
    usage_cmds,
    usage_reported_cmds,
)
from controlplane.cli.context import CliState, guarded, print_msg, state
from controlplane.i18n import Lang
from controlplane.ledger.store import sync_clouds
from controlplane.store import migrate

app = typer.Typer(
    name="yunguan",
    help="Yunguan (云管): the control plane over the city's government clouds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="The store (数据库).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_cmds.app, name="ledger")
app.add_typer(audit_cmds.app, name="audit")
app.add_typer(usage_cmds.app, name="usage")
usage_cmds.app.command("import-reported")(usage_reported_cmds.import_reported)
usage_cmds.app.command("compare")(usage_reported_cmds.compare)
app.command("reconcile")(reconcile_cmds.reconcile)
app.command("drift")(reconcile_cmds.drift)
app.add_typer(report_cmds.app, name="report")
app.add_typer(equipment_cmds.app, name="equipment")
findings_cmds.register(app)  # findings, notices
enforce_cmds.register(app, findings_cmds.app)  # enforce; findings approve
app.add_typer(token_cmds.app, name="token")
app.add_typer(policy_cmds.app, name="policy")
terminate_cmds.register(app)  # terminate, wipe


@app.callback()
def root(  # typer passes options by name
    ctx: typer.Context,
    *,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", envvar="YUNGUAN_CONFIG", help="config file (YAML)")
    ] = None,
    lang: Annotated[Lang | None, typer.Option("--lang", help="zh or en (default: config, then locale)")] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="who is acting, for the operation log (default operator:$USER)"),
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="the agent's API (https://HOST:PORT): run the command there")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", dir_okay=False, help="file holding the API token (--server)")
    ] = None,
) -> None:
    st = CliState(config_path=config, lang_option=lang, server_option=server, token_file_option=token_file)
    st.local_ok = ctx.invoked_subcommand in LOCAL_ONLY
    if actor:
        st.actor = actor
    ctx.obj = st
    ctx.call_on_close(st.close)


@db_app.command("upgrade")
@guarded
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the schema to this version, and record the configured clouds."""
    st = state(ctx)
    rt = st.runtime(check_schema=False)
    migrate.upgrade(rt.engine)
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, st.actor)
    print_msg(
        st,
        "db_upgraded",
        rev=migrate.current(rt.engine),
        url=rt.engine.url.render_as_string(hide_password=True),
    )


@app.command("agent")
def agent_cmd(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="load config, open the store, then exit")] = False,
) -> None:
    """Run the agent daemon (same as ``python agent.py``)."""
    import agent

    st = state(ctx)
    raise typer.Exit(agent.run(st.config_path, check=check))


_GLOBAL_OPTIONS = ("--lang", "--config", "-c", "--actor", "--server", "--token-file")
LOCAL_ONLY = ("db", "token", "agent")  # admin commands on the local store even when a server is configured


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let ``--lang en`` (and the other global options) stand anywhere on the command line."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS and "--" not in argv[:i]:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[i : i + 2])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    import sys

    app(args=hoist_global_options(sys.argv[1:]), prog_name="yunguan")
