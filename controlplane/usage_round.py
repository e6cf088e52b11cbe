"""One round of usage collection over chosen clouds, as ``yunguan usage collect`` runs it on the local store and as
the API's collect job runs it on the agent (``POST /v1/usage/collections``).

A cloud with ``hypervisors`` is swept once (a baseline, ``interval_s`` of waiting, the sweep that counts) and the
sweep is stored with its samples in one transaction; another cloud that reports usage (Kubernetes) is read once,
with no store transaction open while it is read. What happens is said as ``Note``s (a message key of
``controlplane.i18n`` and its values), so the command prints the same lines whether it ran the round itself or
reads them from the server's job. A round is partial when some use could not be read (a host failed, discovery did
not list every host, a source answered in part).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.reconcile.sources import open_source
from controlplane.runtime import Runtime
from controlplane.usage import UsageSource, record_sweep, write_samples
from controlplane.usage_collect import plan_hosts, sweep_once

# (cloud, number of hosts) -> the callback told of each host as it answers (host, ok); for a progress bar
HostProgress = Callable[[str, int], Callable[[str, bool], None]]


@dataclass(frozen=True)
class Note:
    key: str  # a message of controlplane.i18n
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Collected:
    notes: list[Note] = field(default_factory=list)
    partial: bool = False


def unknown_clouds(rt: Runtime, names: Sequence[str]) -> list[str]:
    configured = {c.name for c in rt.settings.clouds}
    return [n for n in names if n not in configured]


def collect_round(
    rt: Runtime,
    names: Sequence[str],
    *,
    hosts: tuple[str, ...] = (),
    interval_s: float,
    sleep: Callable[[float], None],
    say: Callable[[Note], None] | None = None,
    progress: HostProgress | None = None,
) -> Collected:
    """Collect from ``names`` (none: every configured cloud that reports usage); ``hosts`` limits the sweeps to
    those hypervisors. Each note is also handed to ``say`` as it happens. Unknown names: check first
    (``unknown_clouds``)."""
    done = Collected()

    def note(key: str, **values: Any) -> None:
        done.notes.append(Note(key, values))
        if say is not None:
            say(done.notes[-1])

    configured = {c.name: c for c in rt.settings.clouds}
    for name in names or list(configured):
        cloud = configured[name]
        if cloud.hypervisors is not None:
            done.partial |= not _sweep(rt, cloud, hosts, interval_s, sleep, note, progress)
            continue
        source = open_source(cloud, rt.clock)
        if not isinstance(source, UsageSource):
            if names:
                note("usage_none", cloud=name)
            continue
        batch = source.usage()  # read with no store transaction open
        with rt.engine.begin() as conn:
            n = write_samples(conn, batch.samples)
        note("usage_collected", cloud=name, n=n)
        if not batch.complete:
            done.partial = True
            note("usage_partial", cloud=name, why="; ".join(batch.problems)[:500])
    return done


def _sweep(  # noqa: PLR0917 - the round's parts, each explicit
    rt: Runtime,
    cloud: CloudSettings,
    only_hosts: tuple[str, ...],
    interval_s: float,
    sleep: Callable[[float], None],
    note: Callable[..., None],
    progress: HostProgress | None,
) -> bool:
    """Sweep and store; True when the sweep was complete (every host answered, discovery listed every host)."""
    clock: Clock = rt.clock
    plan = plan_hosts(cloud, clock, only_hosts)
    if plan.problem:
        note("sweep_discovery", cloud=cloud.name, why=plan.problem[:500])
    if not plan.hosts:
        note("sweep_no_hosts", cloud=cloud.name)
        return False
    answered = progress(cloud.name, len(plan.hosts)) if progress is not None else None
    sweep = sweep_once(cloud, plan.hosts, clock, interval_s=interval_s, sleep=sleep, progress=answered)
    with rt.engine.begin() as conn:
        record_sweep(conn, sweep)
    for host in sweep.hosts:
        if not host.ok:
            note("sweep_host_failed", cloud=cloud.name, host=host.host, why=host.error)
    for dom in sweep.unknown_domains:
        note("sweep_unknown", cloud=cloud.name, host=dom.host, name=dom.name, uuid=dom.uuid)
    note(
        "sweep_done",
        cloud=cloud.name,
        ok=sum(1 for h in sweep.hosts if h.ok),
        hosts=len(sweep.hosts),
        domains=sum(h.domains for h in sweep.hosts),
        n=len(sweep.samples),
        seconds=f"{(sweep.finished - sweep.started).total_seconds():.1f}",
    )
    return sweep.complete and not plan.problem
