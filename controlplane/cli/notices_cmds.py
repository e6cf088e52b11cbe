"""``yunguan notices list``: the notices the findings lifecycle sent to using units, with each delivery's result; on
the local store, or over the agent's API (``GET /v1/notices``) when a server is configured."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from controlplane.cli.context import CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import Remote
from controlplane.clock import CST
from controlplane.policy.notices.outbox import Notice, Status, notices

app = typer.Typer(help="Notices (通知) sent to using units.", no_args_is_help=True)
COLUMNS = ("id", "finding", "kind", "system", "unit", "created", "deadline", "status", "deliveries")


def remote_notices(remote: Remote, *, finding_id: int | None = None, status: Status | None = None) -> list[Notice]:
    """The notices the server keeps (every page), as the outbox reads them locally."""
    params = {"finding": finding_id, "status": status.value if status else None}
    return [Notice.model_validate(item) for item in remote.items("/v1/notices", params)]


def notice_row(st: CliState, notice: Notice, fmt: Format) -> dict[str, Any]:
    table = fmt is Format.TABLE
    deliveries = [
        f"{d.channel} {d.recipient}: {st.t(f'notice_status.{d.status}') if table else d.status.value}"
        + (f" ({d.attempts}× {d.last_error})" if d.last_error else "")
        for d in notice.deliveries
    ]
    return {
        "id": notice.id,
        "finding": notice.finding_id,
        "kind": st.t(f"notice_kind.{notice.kind}") if table else notice.kind.value,
        "system": notice.snapshot.get("system"),
        "unit": notice.snapshot.get("unit"),
        "created": notice.created.astimezone(CST).isoformat(timespec="minutes") if table else notice.created,
        "deadline": notice.deadline,
        "status": st.t(f"notice_status.{notice.status}") if table else notice.status.value,
        "deliveries": deliveries,
    }


def emit_notices(st: CliState, sent: list[Notice], fmt: Format) -> None:
    rows = [notice_row(st, n, fmt) for n in sent]
    emit(st.out, fmt, rows, [(k, st.t(f"notices.{k}")) for k in COLUMNS], st.t("notices_title", n=len(sent)))


@app.command("list")
@guarded
def list_notices(
    ctx: typer.Context,
    finding_id: Annotated[int | None, typer.Option("--finding", help="only this finding's notices")] = None,
    status: Annotated[Status | None, typer.Option("--status", help="pending, delivered, failed, abandoned")] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """The notices the lifecycle produced, with each delivery's result (channel, recipient, tries, last error)."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        sent = remote_notices(remote, finding_id=finding_id, status=status)
    else:
        with st.runtime().engine.connect() as conn:
            sent = notices(conn, finding_id=finding_id, status=status)
    if not sent and output is Format.TABLE:
        print_msg(st, "notices_none")
        return
    emit_notices(st, sent, output)
