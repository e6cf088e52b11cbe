"""The Yunguan agent: config -> store -> scheduled jobs -> HTTP (``/livez``, ``/readyz``, ``/metrics``).

It loads and validates the configuration, opens the store (refusing a schema that is not at this version), starts
the jobs (``controlplane.agent``) and the HTTP server, and runs until SIGTERM or SIGINT; then it drains (no new job
run, running jobs finish or stop at a safe point, the server stops) and exits 0. ``--check`` loads the config,
opens the store, builds the jobs and exits at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from controlplane.agent.daemon import EXIT_CONFIG, build_agent, open_service
from controlplane.agent.web import ServerError


def run(config: Path | None = None, check: bool = False) -> int:
    stop = threading.Event()
    if not check:  # from the start: a SIGTERM while starting up drains as soon as the agent runs
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    opened = open_service(config, "yunguan.agent")
    if isinstance(opened, int):
        return opened
    runtime, log = opened
    settings = runtime.settings
    agent = build_agent(runtime, config=config)
    log.info(
        "agent ready",
        state_dir=str(settings.state_dir),
        database=runtime.engine.url.get_backend_name(),
        jobs=[s.name for s in agent.specs],
    )
    if check:
        runtime.close()
        return 0
    try:
        agent.start()
    except ServerError as exc:
        log.error("agent cannot serve", error=str(exc))  # noqa: TRY400 - the server logged the cause
        agent.drain()
        runtime.close()
        return EXIT_CONFIG
    stop.wait()
    log.info("agent stopping")
    finished = agent.drain()
    runtime.close()
    log.info("agent stopped", jobs_left_behind=not finished)
    if not finished:
        # a job stuck past the drain timeout (a cloud that never answers) must not keep the process alive: its
        # worker thread would be joined at interpreter exit; it is rerun, idempotently, by the next agent
        sys.stdout.flush()
        os._exit(0)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Yunguan agent")
    parser.add_argument("--config", type=Path, default=None, help="config file (default: $YUNGUAN_CONFIG)")
    parser.add_argument("--check", action="store_true", help="load config, open the store, build the jobs, exit")
    args = parser.parse_args(argv)
    return run(args.config, args.check)


if __name__ == "__main__":
    sys.exit(main())
