"""One configuration: a YAML file validated by a pydantic-settings model, with ``YUNGUAN_`` environment overrides.

It is parsed once (in ``agent.py`` or the CLI's entry) and passed down; nothing reads it from a module global.
Every error names the file and the key. Secrets are ``SecretStr`` or file references, so they never print.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from controlplane.agent.settings import AgentSettings
from controlplane.api.settings import ApiSettings
from controlplane.domain import CloudKind, Name, Zone
from controlplane.policy.notices.settings import NoticeSettings

# Suining 31: operation logs are kept complete for at least one year.
MIN_RETENTION_DAYS = 365
CONFIG_ENV = "YUNGUAN_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and key."""


# the platform's own projects and namespaces, never a system's, by cloud kind
PLATFORM_GROUPS = {
    "openstack": ("admin", "service"),
    "kubernetes": ("kube-system", "kube-public", "kube-node-lease", "default"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql://user@127.0.0.1/yunguan; default: SQLite in the state dir",
    )
    password_file: Path | None = Field(
        default=None, description="file holding the database password, kept out of the URL"
    )
    busy_timeout_s: float = Field(default=30.0, gt=0, le=600, description="SQLite lock wait, seconds")


class AuditSettings(_Section):
    retention_days: int = Field(
        default=400, description="days operation-log events are kept; at least 365 (Suining 31)"
    )
    checkpoint_every: int = Field(default=1000, ge=1, le=1_000_000, description="events between signed checkpoints")
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM); default: audit-signing.key in the state dir"
    )

    @field_validator("retention_days")
    @classmethod
    def _at_least_a_year(cls, value: int) -> int:
        if value < MIN_RETENTION_DAYS:
            raise ValueError(
                f"retention of {value} days is refused: Suining art. 31 requires operation logs to be kept "
                f"complete for at least one year ({MIN_RETENTION_DAYS} days)"
            )
        return value


# Monthly utilization reports (Suining 14, Bozhou 27) and the annual usage audit behind settlement (Bozhou 40) must be
# rebuildable for a whole year back, from the start of the oldest month: 13 months of hourly rollups.
MIN_HOURLY_DAYS = 396


class UsageSettings(_Section):
    raw_days: int = Field(default=14, ge=1, le=366, description="days raw usage samples are kept")
    hourly_days: int = Field(
        default=400,
        description="days hourly rollups are kept; at least 396 (13 months: a year of monthly reports and audits, "
        "Suining 14, Bozhou 27, 40)",
    )
    daily_days: int = Field(default=1100, ge=1, le=10_000, description="days daily rollups (UTC+8 days) are kept")
    compare_margin_points: float = Field(
        default=10,
        ge=0,
        le=100,
        description="percentage points a vendor-reported figure may differ from the measured one before "
        "`usage compare` flags it",
    )
    compare_min_coverage: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of the month's days that must have samples for `usage compare` to trust a measured figure",
    )

    @field_validator("hourly_days")
    @classmethod
    def _thirteen_months(cls, value: int) -> int:
        if value < MIN_HOURLY_DAYS:
            raise ValueError(
                f"keeping hourly usage rollups {value} days is refused: a year of monthly utilization reports "
                f"(Suining art. 14, Bozhou art. 27) and the annual usage audit (Bozhou art. 40) must be rebuildable "
                f"from them, which needs 13 months ({MIN_HOURLY_DAYS} days)"
            )
        return value


class PolicySettings(_Section):
    """The regulation pack a deployment enforces, and its local adjustments (``policies/``, README "Regulation
    packs"). Checked at load: the pack, every override and the calendar file."""

    pack: str | None = Field(
        default=None, description="a shipped pack (suining, bozhou, chongqing, jiuquan) or a pack file"
    )
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="rule id -> {field or dotted path (conditions.0.value, conditions.<name>.value): value}; the key "
        "pack changes the pack's own fields (enforce, auto, blast_radius, escalation, activity)",
    )
    min_coverage: float | None = Field(
        default=None, gt=0, le=1, description="share of a window's days that must have samples, for every rule"
    )
    exemptions: tuple[dict[str, Any], ...] = Field(
        default=(), description="more exemptions: system, rules (empty: all), reason, until (last day), approval"
    )
    calendar_file: Path | None = Field(
        default=None,
        description="local holiday announcements (YAML: holidays, workdays, known_years) on top of the state calendar",
    )

    @model_validator(mode="after")
    def _usable(self) -> PolicySettings:
        from controlplane.policy.deadlines import CalendarFileError, load_calendar
        from controlplane.policy.packs import PackError, load_pack

        if self.pack is None and (self.overrides or self.exemptions or self.min_coverage is not None):
            raise ValueError("policy.overrides, exemptions and min_coverage need policy.pack")
        try:
            if self.pack is not None:
                load_pack(self.pack, self.overrides, min_coverage=self.min_coverage, exemptions=self.exemptions)
            load_calendar(self.calendar_file)
        except (PackError, CalendarFileError) as exc:
            raise ValueError(str(exc).replace("\n", "; ")) from None
        return self


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a TTY, JSON otherwise"
    )


class HypervisorHost(_Section):
    name: Name = Field(description="the hypervisor's name as the cloud reports it (Nova's hypervisor_hostname)")
    uri: str = Field(min_length=1, description="libvirt URI, e.g. qemu+tls://HOST/system?pkipath=DIR")


class HypervisorSettings(_Section):
    """Where the libvirt collector reads the cloud's hypervisors, and how hard it tries."""

    hosts: tuple[HypervisorHost, ...] = Field(default=(), description="hosts named in config")
    discover: bool = Field(default=False, description="also every hypervisor the cloud lists (OpenStack)")
    uri_template: str = Field(
        default="qemu+tls://{host_ip}/system",
        description="URI of a discovered hypervisor; {name} and {host_ip} are filled in",
    )
    username: str | None = Field(default=None, description="SASL user for openAuth; with passphrase_file")
    passphrase_file: Path | None = Field(default=None, description="file holding the SASL passphrase (a secret)")
    host_timeout_s: float = Field(default=30.0, gt=0, le=600, description="a host slower than this fails the sweep")
    workers: int = Field(default=32, ge=1, le=512, description="hosts swept at once (threads)")
    agent_workers: int = Field(default=8, ge=1, le=128, description="guest-agent calls at once (threads)")
    agent_timeout_s: int = Field(default=2, ge=1, le=60, description="guest-agent response timeout, seconds")
    agent_every: int = Field(
        default=12, ge=1, le=10_000, description="ask guest agents for disk use every Nth sweep (lower cadence)"
    )
    balloon_max_age_s: float = Field(
        default=30.0, gt=0, le=3600, description="memory figures older than this are stale (about 2 stats periods)"
    )
    keepalive_interval_s: int = Field(default=5, ge=1, le=600, description="libvirt keepalive interval")
    keepalive_count: int = Field(default=3, ge=1, le=100, description="unanswered keepalives before a link is dead")
    reconnect_max_s: float = Field(default=300.0, gt=0, le=3600, description="longest wait between reconnects")
    wipe_algorithm: Literal[
        "zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random"
    ] = Field(
        default="zero",
        description="termination's overwrite of a server's pool disks: zeros, or a scrub pattern (needs Debian's "
        "scrub on the host) followed by zeros; read back either way",
    )


class CloudSettings(_Section):
    name: Name
    kind: CloudKind
    vendor: Name
    zone: Zone
    connection: str = Field(default="", description="clouds.yaml cloud name or kubeconfig context")
    kubeconfig: Path | None = Field(
        default=None, description="kind kubernetes: kubeconfig file; none and no context: the in-cluster account"
    )
    zone_map: dict[str, Zone] = Field(
        default_factory=dict, description="availability zone -> network zone; unmapped zones take the cloud's zone"
    )
    ignore_groups: tuple[str, ...] = Field(
        default=(),
        description="the platform's own projects/namespaces, never a system's; default by kind: OpenStack admin, "
        "service; Kubernetes kube-system, kube-public, kube-node-lease, default",
    )
    page_size: int = Field(default=1000, ge=1, le=10_000, description="items per page when listing")
    provisioning_working_days: int = Field(
        default=10, ge=0, le=60, description="working days to provision an approved allocation (Suining 11)"
    )
    hypervisors: HypervisorSettings | None = Field(
        default=None, description="the cloud's libvirt hypervisors, read by the usage collector"
    )

    @model_validator(mode="before")
    @classmethod
    def _platform_groups(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ignore_groups" not in data:
            data = {**data, "ignore_groups": PLATFORM_GROUPS.get(str(data.get("kind")), ())}
        return data


_config_path: ContextVar[Path | None] = ContextVar("yunguan_config_path", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ``load_settings``; lower precedence than the environment."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_path.get()
        return read_yaml_config(path) if path is not None else {}


class Settings(BaseSettings):
    """Everything the agent and the CLI are configured with."""

    model_config = SettingsConfigDict(env_prefix="YUNGUAN_", env_nested_delimiter="__", extra="forbid", frozen=True)

    state_dir: Path = Field(
        default_factory=lambda: Path("~/.local/state/yunguan").expanduser(),
        description="where the SQLite store, the audit signing key and caches live",
    )
    lang: Literal["zh", "en"] | None = Field(default=None, description="CLI language; default from the locale")
    database: DatabaseSettings = DatabaseSettings()
    audit: AuditSettings = AuditSettings()
    usage: UsageSettings = UsageSettings()
    log: LogSettings = LogSettings()
    api: ApiSettings = ApiSettings()
    agent: AgentSettings = AgentSettings()
    policy: PolicySettings = PolicySettings()
    notices: NoticeSettings = NoticeSettings()
    clouds: tuple[CloudSettings, ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("clouds")
    @classmethod
    def _unique_clouds(cls, value: tuple[CloudSettings, ...]) -> tuple[CloudSettings, ...]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cloud names must be unique; repeated: {', '.join(dupes)}")
        return value

    def database_url(self) -> str:
        """The URL to connect with (a secret: never log it); SQLite in the state dir by default."""
        if self.database.url is None:
            return f"sqlite:///{self.state_dir / 'yunguan.db'}"
        return self.database.url.get_secret_value()

    def database_password(self) -> str | None:
        if self.database.password_file is None:
            return None
        return self.database.password_file.read_text(encoding="utf-8").strip()

    def signing_key_path(self) -> Path:
        return self.audit.signing_key_file or self.state_dir / "audit-signing.key"

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log and operation-log redactors."""
        secrets: list[str] = []
        if self.database.url is not None:
            url = self.database.url.get_secret_value()
            secrets.append(url)
            password = _url_password(url)
            if password:
                secrets.append(password)
        if self.database.password_file is not None and self.database.password_file.exists():
            password = self.database_password()
            if password:
                secrets.append(password)
        secrets.extend(self.notices.secret_values())
        return secrets


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except ArgumentError:
        return None


def read_yaml_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Parse the configuration once: ``path``, else ``$YUNGUAN_CONFIG``, else the embedded defaults."""
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    token = _config_path.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        source = str(path) if path is not None else "configuration"
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            env = "YUNGUAN_" + "__".join(str(p).upper() for p in error["loc"] if isinstance(p, str))
            lines.append(f"{source}: {key}: {error['msg']} (or environment {env})")
        raise ConfigError("\n".join(lines)) from None
    finally:
        _config_path.reset(token)
