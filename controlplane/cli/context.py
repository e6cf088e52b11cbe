"""What every command shares: the parsed settings, the language, the consoles, the runtime and the exit codes.

Exit codes (documented in the README):
  0  success
  1  the command's check found a problem (e.g. ``audit verify`` found tampering)
  2  usage error (bad option or argument)
  3  input rejected (a ledger file with errors; nothing was written)
  4  configuration error
  5  store error (database unreachable or its schema not at this version)
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from controlplane.audit.log import AuditHeadMissingError
from controlplane.audit.signing import SigningKeyError
from controlplane.cli.remote import Remote, RemoteError, resolve
from controlplane.config import ConfigError, Settings, load_settings
from controlplane.i18n import Lang, default_lang, t
from controlplane.ledger.forms import LedgerFileError
from controlplane.logs import configure_logging
from controlplane.redaction import Redactor
from controlplane.runtime import Runtime, open_runtime
from controlplane.store.migrate import SchemaError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_CONFIG = 4
EXIT_STORE = 5

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliState:
    config_path: Path | None = None
    lang_option: Lang | None = None
    actor: str = field(default_factory=lambda: f"operator:{getpass.getuser()}")
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    server_option: str | None = None
    token_file_option: Path | None = None
    local_ok: bool = False  # a local-only admin command (db upgrade, token, audit verify --offline)
    _settings: Settings | None = None
    _runtime: Runtime | None = None
    _remote: Remote | None = None
    _remote_resolved: bool = False

    def remote(self) -> Remote | None:
        """The agent's API when a server is configured (options, environment, client config), else None."""
        if not self._remote_resolved:
            self._remote_resolved = True
            config = resolve(self.server_option, self.token_file_option)
            self._remote = Remote(config) if config is not None else None
        return self._remote

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
            configure_logging(
                Redactor(self._settings.secret_values()), self._settings.log.level, self._settings.log.format
            )
        return self._settings

    @property
    def lang(self) -> Lang:
        if self.lang_option is not None:
            return self.lang_option
        try:
            configured = self.settings.lang
        except ConfigError:
            configured = None
        return configured or default_lang()

    def runtime(self, check_schema: bool = True) -> Runtime:
        if self._runtime is None:
            if not self.local_ok and self.remote() is not None:
                raise RemoteError(
                    "this command has no remote form yet: it is not run locally while a server is configured"
                    " (unset --server / YUNGUAN_SERVER / the client config to run it on the local store)",
                    EXIT_USAGE,
                )
            self._runtime = open_runtime(self.settings, check_schema=check_schema)
        return self._runtime

    def t(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
        if self._remote is not None:
            self._remote.close()


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors an operator can fix into a clear message and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # typer may hand over its own vendored click Context class: recognise the context by what it does
        ctx = next((a for a in [*args, *kwargs.values()] if hasattr(a, "find_root")), None)
        st = state(ctx) if ctx is not None else CliState()  # type: ignore[arg-type]
        redact = _redactor(st)
        try:
            return func(*args, **kwargs)
        except LedgerFileError as exc:
            st.err.print(st.t("import_rejected", source=exc.source, n=len(exc.errors)), highlight=False)
            for error in exc.errors:
                st.err.print("  " + redact(error.render(exc.source)), highlight=False, markup=False)
            raise typer.Exit(EXIT_INPUT) from None
        except ConfigError as exc:
            _fail(st, redact(str(exc)), EXIT_CONFIG)
        except RemoteError as exc:
            _fail(st, str(exc), exc.code)
        except (SchemaError, SigningKeyError, AuditHeadMissingError) as exc:
            _fail(st, redact(str(exc)), EXIT_STORE)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            _fail(st, redact(f"database: {type(exc).__name__}: {detail}"), EXIT_STORE)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _redactor(st: CliState) -> Callable[[str], str]:
    def redact(text: str) -> str:
        try:
            return Redactor(st.settings.secret_values()).text(text)
        except ConfigError:
            return Redactor().text(text)

    return redact


def _fail(st: CliState, message: str, code: int) -> None:
    st.err.print(f"{st.t('error')}: {message}", highlight=False, markup=False)
    raise typer.Exit(code)


def print_msg(st: CliState, key: str, **values: Any) -> None:
    st.err.print(st.t(key, **values), highlight=False, markup=False)
