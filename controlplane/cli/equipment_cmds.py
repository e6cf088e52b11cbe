"""``yunguan equipment``: the hosting zone's equipment (托管设备). On the local store the operator is caller and
actor of the same register and retire functions the vendors' HTTP API runs; with a server configured every command
goes through that API as the token's role (a vendor token registers and retires its own equipment; registering a
file is one all-or-nothing ``POST /v1/equipment/registrations``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import typer

from controlplane.cli.context import EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import Remote, RemoteError
from controlplane.clock import today_cst
from controlplane.hosting import store
from controlplane.hosting.form import (
    EQUIPMENT_FORM,
    Parsed,
    parse_equipment,
    read_equipment_file,
    register_all,
    rejected,
)
from controlplane.hosting.model import Equipment, EquipmentState, RetireReason
from controlplane.hosting.scope import operator
from controlplane.ledger.forms import RowError
from controlplane.units import MBIT, plain

app = typer.Typer(help="Hosted equipment (托管设备): list, show, register, retire.", no_args_is_help=True)
OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")]

COLUMNS = (
    "id",
    "vendor",
    "serial",
    "kind",
    "model",
    "unit",
    "system",
    "position",
    "power_w",
    "bandwidth_mbps",
    "state",
)


def _row(item: Equipment) -> dict[str, Any]:
    return {
        "id": item.id,
        "vendor": item.vendor,
        "serial": item.serial,
        "asset_tag": item.asset_tag,
        "kind": item.kind.value,
        "model": item.model,
        "unit": item.unit,
        "system": item.system,
        "position": item.position.label(),
        "power_w": item.power_watts,
        "ports": item.ports,
        "bandwidth_mbps": plain(Decimal(item.bandwidth_bps) / MBIT),
        "hosted_since": item.hosted_since.isoformat(),
        "state": item.state.value,
        "retired_on": item.retired_on.isoformat() if item.retired_on else None,
        "retire_reason": item.retire_reason.value if item.retire_reason else None,
        "sanitization_pending": item.sanitization_certificate_missing(),
        "registered_by": item.registered_by,
        "registered_at": item.registered_at.isoformat(timespec="seconds"),
    }


def _equipment(item: dict[str, Any]) -> Equipment:
    """An ``EquipmentOut`` the API answered, as the store gives it (the derived flag dropped)."""
    return Equipment.model_validate({k: v for k, v in item.items() if k != "sanitization_pending"})


def _not_found(st: CliState, exc: RemoteError, equipment_id: int) -> None:
    """The server's 404 (missing, or outside the token's scope) as the local command says it."""
    if exc.status == HTTPStatus.NOT_FOUND:
        print_msg(st, "equipment_not_found", id=equipment_id)
        raise typer.Exit(EXIT_USAGE) from None


def _columns(st: CliState, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, st.t(f"equipment.{k}")) for k in keys]


@app.command("list")
@guarded
def list_(  # typer passes options by name
    ctx: typer.Context,
    *,
    vendor: Annotated[str | None, typer.Option("--vendor", help="hosting vendor")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="owning unit")] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="system code")] = None,
    state_: Annotated[EquipmentState | None, typer.Option("--state", help="registered, active or retired")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Hosted equipment, by vendor and serial."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        params = {"vendor": vendor, "unit": unit, "system": system, "state": state_.value if state_ else None}
        found = [_equipment(item) for item in remote.items("/v1/equipment", params)]
    else:
        with st.runtime().engine.connect() as conn:
            found = store.list_equipment(
                conn, operator(st.actor), vendor=vendor, unit=unit, system=system, state=state_
            )
    if not found and output is Format.TABLE:
        print_msg(st, "equipment_none")
        return
    emit(st.out, output, [_row(e) for e in found], _columns(st, COLUMNS), st.t("equipment_title", n=len(found)))


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    equipment_id: Annotated[int, typer.Argument(help="the equipment's id (see `equipment list`)")],
    output: OutputOpt = Format.TABLE,
) -> None:
    """One piece of equipment, with its evidence files."""
    st = state(ctx)
    remote = st.remote()
    try:
        if remote is not None:
            item = _equipment(remote.get(f"/v1/equipment/{equipment_id}"))
        else:
            with st.runtime().engine.connect() as conn:
                item = store.get_equipment(conn, operator(st.actor), equipment_id)
    except RemoteError as exc:
        _not_found(st, exc, equipment_id)
        raise
    except store.EquipmentNotFoundError:
        print_msg(st, "equipment_not_found", id=equipment_id)
        raise typer.Exit(EXIT_USAGE) from None
    row = _row(item)
    evidence = [e.model_dump(mode="json") for e in item.evidence]
    if output is not Format.TABLE:
        emit(st.out, output, [row | {"evidence": evidence}], _columns(st, tuple(row)))
        return
    fields = [{"field": st.t(f"equipment.{k}"), "value": v} for k, v in row.items()]
    emit(st.out, Format.TABLE, fields, [("field", ""), ("value", "")], st.t("equipment_one", id=item.id))
    if evidence:
        keys = ("kind", "name", "size", "media_type", "sha256", "uploaded_by", "uploaded_at")
        emit(st.out, Format.TABLE, evidence, [(k, st.t(f"evidence.{k}")) for k in keys], st.t("evidence_title"))
    if item.sanitization_certificate_missing():
        print_msg(st, "equipment_sanitization")


@app.command("register")
@guarded
def register(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML registration file", exists=True, dir_okay=False)],
    vendor: Annotated[str | None, typer.Option("--vendor", help="the vendor of rows that name none")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, write nothing")] = False,
) -> None:
    """Register equipment from a file, atomically: one bad row rejects the whole file (exit 3)."""
    st = state(ctx)
    remote = st.remote()
    parsed = parse_equipment(read_equipment_file(file), vendor)
    if remote is not None:
        done = _register_remote(remote, parsed, dry_run=dry_run)
    else:
        rt = st.runtime()
        with rt.engine.connect() as conn, conn.begin() as tx:
            done = register_all(conn, rt.audit, operator(st.actor), parsed, now=rt.clock.now())
            if dry_run:
                tx.rollback()
    print_msg(st, "equipment_dry" if dry_run else "equipment_registered", source=file, n=len(done))
    if not dry_run:
        emit(st.out, Format.TABLE, [_row(e) for e in done], _columns(st, COLUMNS))


def _register_remote(remote: Remote, parsed: Parsed, *, dry_run: bool) -> list[Equipment]:
    """The rows that read well go to the server in one request; with bad cells it only checks them (a dry run), so
    the rejection lists every problem, the file's and the store's, as locally."""
    errors = list(parsed.errors)
    done: list[Equipment] = []
    if parsed.rows:
        rows = [{"row": r.row, "vendor": r.vendor, **r.spec.model_dump(mode="json")} for r in parsed.rows]
        try:
            got = remote.post("/v1/equipment/registrations", {"rows": rows, "dry_run": dry_run or bool(errors)})
            done = [_equipment(item) for item in got["registered"]]
        except RemoteError as exc:
            if not str(exc.problem.get("type", "")).endswith("/rows-rejected"):
                raise
            errors += [RowError(e["row"], e["column"], e["message"], EQUIPMENT_FORM) for e in exc.problem["errors"]]
    if errors:
        raise rejected(parsed.source, errors)
    return done


@app.command("retire")
@guarded
def retire(
    ctx: typer.Context,
    equipment_id: Annotated[int, typer.Argument(help="the equipment's id")],
    reason: Annotated[
        RetireReason, typer.Option("--reason", help="removed (back to the unit) or disposed (Chongqing 39)")
    ] = RetireReason.REMOVED,
    on: Annotated[
        dt.datetime | None, typer.Option("--on", formats=["%Y-%m-%d"], help="the day it left (default today, UTC+8)")
    ] = None,
) -> None:
    """Retire equipment: it leaves the hosting zone, frees its rack space and counts against no allocation."""
    st = state(ctx)
    remote = st.remote()
    try:
        if remote is not None:
            body = {"reason": reason.value, "on": on.date().isoformat() if on else None}
            item = _equipment(remote.post(f"/v1/equipment/{equipment_id}/retire", body))
        else:
            rt = st.runtime()
            with rt.engine.begin() as conn:
                item = store.retire(
                    conn,
                    rt.audit,
                    operator(st.actor),
                    equipment_id,
                    reason=reason,
                    on=on.date() if on else today_cst(rt.clock),
                    now=rt.clock.now(),
                )
    except RemoteError as exc:
        _not_found(st, exc, equipment_id)
        if exc.status == HTTPStatus.UNPROCESSABLE_ENTITY and exc.problem.get("type", "").endswith("/invalid-equipment"):
            print_msg(st, "equipment_refused", id=equipment_id, why=exc.problem.get("detail", ""))
            raise typer.Exit(EXIT_USAGE) from None
        raise
    except store.EquipmentNotFoundError:
        print_msg(st, "equipment_not_found", id=equipment_id)
        raise typer.Exit(EXIT_USAGE) from None
    except store.HostingError as exc:
        print_msg(st, "equipment_refused", id=equipment_id, why=str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    day = item.retired_on.isoformat() if item.retired_on else ""
    print_msg(st, "equipment_retired", id=item.id, serial=item.serial, reason=reason.value, on=day)
    if item.sanitization_certificate_missing():
        print_msg(st, "equipment_sanitization")
