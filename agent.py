"""The Yunguan agent: config -> store -> (scheduler -> API, in later versions).

For now the daemon loads and validates the configuration, opens the store (refusing a schema that is not at this
version), logs that it is ready and waits for SIGTERM or SIGINT. ``--check`` does the same and exits at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from controlplane.config import ConfigError, load_settings
from controlplane.logs import configure_logging, get_logger
from controlplane.redaction import Redactor
from controlplane.runtime import open_runtime
from controlplane.store.migrate import SchemaError

EXIT_CONFIG = 4
EXIT_STORE = 5


def run(config: Path | None = None, check: bool = False) -> int:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(Redactor(settings.secret_values()), settings.log.level, settings.log.format, sys.stdout)
    log = get_logger("yunguan.agent")
    try:
        runtime = open_runtime(settings)
    except SchemaError as exc:
        log.error("store not ready", error=str(exc))  # noqa: TRY400 - the message is the cause; no traceback
        return EXIT_STORE
    log.info("agent ready", state_dir=str(settings.state_dir), database=runtime.engine.url.get_backend_name())
    if check:
        runtime.close()
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("agent stopping")
    runtime.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Yunguan agent")
    parser.add_argument("--config", type=Path, default=None, help="config file (default: $YUNGUAN_CONFIG)")
    parser.add_argument("--check", action="store_true", help="load config, open the store, exit")
    args = parser.parse_args(argv)
    return run(args.config, args.check)


if __name__ == "__main__":
    sys.exit(main())
