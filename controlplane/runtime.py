"""Wiring: from parsed settings to the objects commands and jobs use (engine, clock, redactor, operation log).

Built once per process and passed down; nothing here is a module-level global.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from controlplane.audit.log import AuditLog
from controlplane.audit.signing import Signer, load_or_create_signer
from controlplane.clock import Clock, SystemClock
from controlplane.config import Settings
from controlplane.domain import Cloud
from controlplane.redaction import Redactor
from controlplane.store import migrate
from controlplane.store.engine import make_engine


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    redactor: Redactor
    signer: Signer
    audit: AuditLog

    def configured_clouds(self) -> list[Cloud]:
        return [
            Cloud(name=c.name, kind=c.kind, vendor=c.vendor, zone=c.zone, connection=c.connection)
            for c in self.settings.clouds
        ]

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings, clock: Clock | None = None, check_schema: bool = True) -> Runtime:
    clock = clock or SystemClock()
    redactor = Redactor(settings.secret_values())
    engine = make_engine(
        settings.database_url(), settings.database_password(), busy_timeout_s=settings.database.busy_timeout_s
    )
    try:
        if check_schema:
            migrate.require_head(engine)
        signer = load_or_create_signer(settings.signing_key_path())
    except BaseException:
        engine.dispose()
        raise
    audit = AuditLog(clock, signer, redactor, settings.audit.checkpoint_every)
    return Runtime(settings, engine, clock, redactor, signer, audit)
