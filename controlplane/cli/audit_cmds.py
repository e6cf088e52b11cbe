"""``yunguan audit``: verify, export, checkpoint and purge the operation log."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from controlplane.audit.archive import read_archived_checkpoints, write_export
from controlplane.audit.chain import format_time
from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.signing import load_public_key
from controlplane.audit.verify import Problem as VerifyProblem
from controlplane.audit.verify import Report as VerifyReport
from controlplane.audit.verify import verify as verify_log
from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_INPUT, EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import RemoteError
from controlplane.clock import CST

app = typer.Typer(help="The operation log (操作日志): verify, export, checkpoint, purge.", no_args_is_help=True)


def _cst_midnight(day: dt.datetime) -> str:
    return format_time(day.replace(tzinfo=CST))


@app.command("verify")
@guarded
def verify(
    ctx: typer.Context,
    checkpoints: Annotated[
        Path | None,
        typer.Option("--checkpoints", help="an earlier export kept off-box: its checkpoints are checked too"),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="PEM public key (default: the configured signing key)")
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o")] = Format.TABLE,
    offline: Annotated[
        bool, typer.Option("--offline", help="verify the local store even when a server is configured")
    ] = False,
) -> None:
    """Walk the hash chain and the signed checkpoints; exit 1 and name the first bad seq on any tampering.
    With a server configured the server verifies its log, unless --offline."""
    st = state(ctx)
    st.local_ok = st.local_ok or offline
    remote = None if offline else st.remote()
    if remote is not None:
        if checkpoints is not None or public_key is not None:
            raise RemoteError("--checkpoints and --public-key verify the local store: add --offline", EXIT_USAGE)
        got = remote.get("/v1/audit/verify")
        report = VerifyReport(
            events=got["events"],
            first_seq=got["first_seq"],
            last_seq=got["last_seq"],
            checkpoints=got["checkpoints"],
            problems=[VerifyProblem(p["seq"], p["kind"], p["detail"]) for p in got["problems"]],
        )
    else:
        report = _verify_local(st, checkpoints, public_key)
    if output is not Format.TABLE:
        emit(
            st.out,
            output,
            [
                {
                    "ok": report.ok,
                    "events": report.events,
                    "first_seq": report.first_seq,
                    "last_seq": report.last_seq,
                    "checkpoints": report.checkpoints,
                    "first_bad_seq": report.first_bad_seq,
                    "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in report.problems],
                }
            ],
            [],
        )
    elif report.ok:
        st.out.print(
            st.t(
                "verify_ok",
                events=report.events,
                first=report.first_seq or 0,
                last=report.last_seq or 0,
                checkpoints=report.checkpoints,
            ),
            highlight=False,
        )
    else:
        st.out.print(st.t("verify_bad", seq=report.first_bad_seq), highlight=False)
        for p in sorted(report.problems, key=lambda p: p.seq):
            st.out.print(f"  seq {p.seq}: {p.kind}: {p.detail}", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _verify_local(st: CliState, checkpoints: Path | None, public_key: Path | None) -> VerifyReport:
    rt = st.runtime()
    public = load_public_key(public_key) if public_key else rt.signer.public
    archived = []
    if checkpoints is not None:
        try:
            archived = read_archived_checkpoints(checkpoints)
        except (OSError, ValueError) as exc:
            st.err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_INPUT) from None
    with rt.engine.connect() as conn:
        return verify_log(iter_events(conn), [*read_checkpoints(conn), *archived], public, read_head(conn))


@app.command("export")
@guarded
def export(
    ctx: typer.Context,
    since: Annotated[
        dt.datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="first day (UTC+8)")
    ] = None,
    until: Annotated[
        dt.datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], help="day after the last (UTC+8)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="file to write (default: stdout)")] = None,
) -> None:
    """Export events and signed checkpoints as JSON Lines for off-box archiving."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.connect() as conn:
        events = iter_events(conn, _cst_midnight(since) if since else None, _cst_midnight(until) if until else None)
        cps = read_checkpoints(conn)
        pem = rt.signer.public_pem().decode()
        if out is None:
            n, c = write_export(sys.stdout, events, cps, pem)
        else:
            with out.open("w", encoding="utf-8") as handle:
                n, c = write_export(handle, events, cps, pem)
    print_msg(st, "exported", events=n, checkpoints=c, out=out or "stdout")


@app.command("checkpoint")
@guarded
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint at the current head now (the agent does this at least daily)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        cp = rt.audit.checkpoint(conn, "manual")
    if cp is None:
        print_msg(st, "checkpoint_empty")
    else:
        print_msg(st, "checkpoint_signed", seq=cp.seq)


@app.command("purge")
@guarded
def purge(ctx: typer.Context) -> None:
    """Delete events older than the configured retention (never under 365 days), leaving an anchor checkpoint."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        n = rt.audit.purge(conn, rt.settings.audit.retention_days, actor=st.actor)
    print_msg(st, "purged", n=n)


@app.command("public-key")
@guarded
def public_key(ctx: typer.Context) -> None:
    """Print the operation log's public key (PEM) for auditors to verify exports with."""
    st = state(ctx)
    st.out.out(st.runtime().signer.public_pem().decode(), end="", highlight=False)


__all__ = ["app", "emit"]
