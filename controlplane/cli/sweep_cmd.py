"""The hypervisor part of ``yunguan usage collect``: one sweep of a cloud's libvirt hosts with a progress bar, the
sweep and its samples stored in one transaction, failed hosts and unknown domains said out loud."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controlplane.cli.context import CliState, print_msg
from controlplane.config import CloudSettings
from controlplane.usage import record_sweep
from controlplane.usage_collect import plan_hosts, sweep_once


def sweep_cloud(st: CliState, cloud: CloudSettings, only_hosts: tuple[str, ...], interval_s: float) -> bool:
    """Sweep and store; True when the sweep was complete (every host answered, discovery listed every host)."""
    rt = st.runtime()
    plan = plan_hosts(cloud, rt.clock, only_hosts)
    if plan.problem:
        print_msg(st, "sweep_discovery", cloud=cloud.name, why=plan.problem[:500])
    if not plan.hosts:
        print_msg(st, "sweep_no_hosts", cloud=cloud.name)
        return False
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=st.err
    ) as bar:
        task = bar.add_task(f"{cloud.name}: hypervisors", total=len(plan.hosts))
        sweep = sweep_once(
            cloud,
            plan.hosts,
            rt.clock,
            interval_s=interval_s,
            sleep=time.sleep,
            progress=lambda _host, _ok: bar.advance(task),
        )
    with rt.engine.begin() as conn:
        record_sweep(conn, sweep)
    for host in sweep.hosts:
        if not host.ok:
            print_msg(st, "sweep_host_failed", cloud=cloud.name, host=host.host, why=host.error)
    for dom in sweep.unknown_domains:
        print_msg(st, "sweep_unknown", cloud=cloud.name, host=dom.host, name=dom.name, uuid=dom.uuid)
    print_msg(
        st,
        "sweep_done",
        cloud=cloud.name,
        ok=sum(1 for h in sweep.hosts if h.ok),
        hosts=len(sweep.hosts),
        domains=sum(h.domains for h in sweep.hosts),
        n=len(sweep.samples),
        seconds=f"{(sweep.finished - sweep.started).total_seconds():.1f}",
    )
    return sweep.complete and not plan.problem
