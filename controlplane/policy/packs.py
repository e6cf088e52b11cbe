"""Regulation packs: one YAML file per jurisdiction (``policies/<name>.yaml``, shipped as package data), validated
into a ``Pack``, with a deployment's overrides applied on top.

Errors name the pack, the rule and the field, and the YAML line where there is one:
``policies/bozhou.yaml:41: pack bozhou: rule bozhou-26-reduce-memory: conditions.1.op: Input should be 'lt', ...``.
An override that does not fit names its config key: ``policy.overrides.chongqing-17-idle-cpu.conditions.0.value``.

Rules without their own ``escalation``, ``enforce``, ``auto`` or ``min_coverage`` take the pack's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import yaml
from pydantic import Field, ValidationError, model_validator

from controlplane.domain import Frozen
from controlplane.policy.model import Duration, EscalationStep
from controlplane.policy.rules import (
    ActionRule,
    Activity,
    BlastRadius,
    Exemption,
    IdleRule,
    MonitoringRule,
    Rule,
    ThresholdRule,
)
from controlplane.termination.terms import TerminationTerms

if TYPE_CHECKING:
    from controlplane.config import PolicySettings

PACKAGE = "policies"  # the package the shipped packs live in (data only: read, never imported)
PACK_KEY = "pack"  # overrides under this key apply to the pack's own fields
INHERITED = ("escalation", "enforce", "auto", "min_coverage")
UNION_TAGS = ("comparison", "group")  # the condition union's tags, in pydantic's error locations


class PackError(Exception):
    """A pack (or an override of it) that cannot be used; one line per problem."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Pack(Frozen):
    """A jurisdiction's rules, as data."""

    pack: str = Field(pattern=r"^[a-z0-9]+$", description="the pack's name; every rule id starts with it")
    city: str = Field(min_length=1)
    document: str = Field(min_length=1, description="the regulation the rules cite")
    notes: str = ""
    min_coverage: float = Field(
        default=0.5, gt=0, le=1, description="share of a window's days (hours for hours_above) that must have samples"
    )
    activity: Activity = Activity()
    enforce: bool = Field(default=False, description="carry out outcomes once enforceable (default: only plan)")
    auto: bool = Field(default=False, description="approve enforcement plans without an operator")
    blast_radius: BlastRadius = BlastRadius()
    escalation: tuple[EscalationStep, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    rules: tuple[Rule, ...] = ()
    termination: TerminationTerms = Field(
        default_factory=TerminationTerms, description="periods of a termination case (request, transition, billing)"
    )

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        """Rules that leave out escalation, enforce, auto or min_coverage take the pack's (or its default)."""
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            return data
        defaults = {"enforce": False, "auto": False, "min_coverage": 0.5, "escalation": []}
        rules = []
        for rule in data["rules"]:
            if isinstance(rule, dict) and rule.get("type") in ("threshold", "idle"):
                inherited = {k: data.get(k, defaults[k]) for k in INHERITED if rule.get(k) is None}
                rules.append({**rule, **inherited})
            else:
                rules.append(rule)
        return {**data, "rules": rules}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [r.id for r in self.rules]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(repeated)}")
        foreign = [i for i in ids if not i.startswith(self.pack + "-")]
        if foreign:
            raise ValueError(f"rule ids start with the pack's name ({self.pack}-): {', '.join(foreign)}")
        if sum(isinstance(r, MonitoringRule) for r in self.rules) > 1:
            raise ValueError("a pack has at most one monitoring rule")
        for exemption in self.exemptions:
            unknown = [r for r in exemption.rules if r not in ids]
            if unknown:
                raise ValueError(f"exemption of {exemption.system} names unknown rules: {', '.join(unknown)}")
        for where, duration in self._durations():
            _check_duration(where, duration)
        return self

    def _durations(self) -> list[tuple[str, Duration]]:
        found = [(f"escalation.{i}.after", s.after) for i, s in enumerate(self.escalation)]
        for rule in self.rules:
            if isinstance(rule, MonitoringRule):
                found.append((f"rule {rule.id}: stable_for", rule.stable_for))
                if rule.stable_for.working_days is not None:
                    raise ValueError(f"rule {rule.id}: stable_for: counted in days or months, not working days")
            if isinstance(rule, IdleRule):
                found.append((f"rule {rule.id}: duration", rule.duration))
                if rule.duration.working_days is not None:
                    raise ValueError(f"rule {rule.id}: duration: counted in days or months, not working days")
            if isinstance(rule, ThresholdRule | IdleRule):
                found += [
                    (f"rule {rule.id}: escalation.{i}.after", s.after) for i, s in enumerate(rule.escalation or ())
                ]
        return found

    @property
    def action_rules(self) -> list[ActionRule]:
        """The enabled rules that can break (thresholds and idle rules), in pack order."""
        return [r for r in self.rules if isinstance(r, ThresholdRule | IdleRule) and r.enabled]

    @property
    def monitoring(self) -> MonitoringRule | None:
        return next((r for r in self.rules if isinstance(r, MonitoringRule) and r.enabled), None)

    def rule(self, rule_id: str) -> ActionRule:
        """An action rule by id (enabled or not); KeyError when the pack has none."""
        for r in self.rules:
            if r.id == rule_id and isinstance(r, ThresholdRule | IdleRule):
                return r
        raise KeyError(rule_id)


def _check_duration(where: str, duration: Duration) -> None:
    units = [u for u in ("days", "months", "working_days") if getattr(duration, u) is not None]
    if len(units) != 1:
        raise ValueError(
            f"{where}: a period has exactly one unit (days, months or working_days), not {units or 'none'}"
        )


# -- loading ----------------------------------------------------------------------------------------------------------


def pack_names() -> list[str]:
    """The packs shipped with yunguan."""
    return sorted(p.name[: -len(".yaml")] for p in resources.files(PACKAGE).iterdir() if p.name.endswith(".yaml"))


def pack_source(ref: str | Path) -> tuple[str, str]:
    """(source label, YAML text) of a shipped pack name or a pack file."""
    name = str(ref)
    if isinstance(ref, str) and "/" not in name and not name.endswith((".yaml", ".yml")):
        shipped = resources.files(PACKAGE) / f"{name}.yaml"
        if not shipped.is_file():
            raise PackError(name, [f"no pack named {name!r}; shipped packs: {', '.join(pack_names())}"])
        return f"policies/{name}.yaml", shipped.read_text(encoding="utf-8")
    path = Path(ref)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(str(path), [f"{path}: cannot read the pack: {exc.strerror}"]) from exc


def load_pack(
    ref: str | Path,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    min_coverage: float | None = None,
    exemptions: Iterable[Mapping[str, Any]] = (),
    key: str = "policy.overrides",
) -> Pack:
    """Read and validate a pack (a shipped name or a file), then apply a deployment's ``overrides`` (rule id ->
    {field or dotted path: value}; ``pack`` -> the pack's own fields), its ``min_coverage`` and extra
    ``exemptions``. Raises ``PackError``."""
    source, text = pack_source(ref)
    return parse_pack(text, source, overrides, min_coverage=min_coverage, exemptions=exemptions, key=key)


def configured_pack(policy: PolicySettings, ref: str | Path | None = None) -> Pack:
    """The pack a deployment selected (``policy.pack``) with its overrides, min_coverage and exemptions; or ``ref``
    as shipped when it names another pack. KeyError when none is configured and none is named."""
    if ref is not None and str(ref) != policy.pack:
        return load_pack(ref)
    if policy.pack is None:
        raise KeyError("policy.pack")
    return load_pack(policy.pack, policy.overrides, min_coverage=policy.min_coverage, exemptions=policy.exemptions)


def escalations(policy: PolicySettings) -> Callable[[str], tuple[EscalationStep, ...]]:
    """Rule id -> its escalation steps (KeyError: no pack knows the rule): the configured pack (with its overrides)
    first, then every shipped pack, so findings of a pack no longer configured still move. The agent's daily tick
    and ``yunguan findings tick`` / ``reject-dispute`` use the same lookup."""
    packs: list[Pack] = [configured_pack(policy)] if policy.pack is not None else []
    packs += [load_pack(name) for name in pack_names()]

    def escalation_of(rule_id: str) -> tuple[EscalationStep, ...]:
        for pack in packs:
            try:
                rule = pack.rule(rule_id)
            except KeyError:
                continue
            return rule.escalation if rule.escalation is not None else pack.escalation
        raise KeyError(rule_id)

    return escalation_of


def parse_pack(
    text: str,
    source: str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    min_coverage: float | None = None,
    exemptions: Iterable[Mapping[str, Any]] = (),
    key: str = "policy.overrides",
) -> Pack:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise PackError(source, [f"{where}: not valid YAML: {exc.problem}"]) from exc
    if not isinstance(data, dict):
        raise PackError(source, [f"{source}: a pack is a mapping (pack:, city:, rules: ...)"])
    name = str(data.get("pack", "?"))
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        lines = yaml_lines(root)
        raise PackError(source, [_pack_problem(source, name, data, lines, e) for e in _errors(exc, data)]) from None
    extra = list(exemptions)
    if not overrides and min_coverage is None and not extra:
        return pack
    changed = _apply_overrides(data, overrides or {}, name, key)
    if min_coverage is not None:
        changed["min_coverage"] = min_coverage
        for rule in changed.get("rules", []):
            if isinstance(rule, dict) and rule.get("type") in ("threshold", "idle"):
                rule["min_coverage"] = min_coverage
    changed["exemptions"] = [*changed.get("exemptions", []), *extra]
    try:
        return Pack.model_validate(changed)
    except ValidationError as exc:
        raise PackError(key, [_override_problem(key, changed, e) for e in _errors(exc, changed)]) from None


def _apply_overrides(data: dict[str, Any], overrides: Mapping[str, Mapping[str, Any]], name: str, key: str) -> Any:
    changed = copy.deepcopy(data)
    rules = {str(r.get("id")): r for r in changed.get("rules", []) if isinstance(r, dict)}
    problems: list[str] = []
    for rule_id, fields in overrides.items():
        target = changed if rule_id == PACK_KEY else rules.get(rule_id)
        if target is None:
            problems.append(f"{key}.{rule_id}: pack {name} has no rule {rule_id!r} (rules: {', '.join(rules)})")
            continue
        for path, value in fields.items():
            try:
                _set_path(target, str(path).split("."), value)
            except (KeyError, IndexError, TypeError) as exc:
                problems.append(f"{key}.{rule_id}.{path}: {exc.args[0] if exc.args else exc}")
    if problems:
        raise PackError(key, problems)
    return changed


def _set_path(target: Any, parts: list[str], value: Any) -> None:
    """Set ``a.b.0.c`` (list items by index or by their ``name``) in plain data."""
    here = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(here, list):
            index = _list_index(here, part)
            if last:
                here[index] = value
                return
            here = here[index]
        elif isinstance(here, dict):
            if last:
                here[part] = value
                return
            if part not in here:
                raise KeyError(f"no {part!r} here to change")
            here = here[part]
        else:
            raise TypeError(f"{part!r}: {'.'.join(parts[:i])} is a value, not a mapping or list")


def _list_index(items: list[Any], part: str) -> int:
    if part.isdigit():
        if int(part) >= len(items):
            raise IndexError(f"index {part} is beyond the {len(items)} item(s)")
        return int(part)
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    raise KeyError(f"no item named {part!r}")


# -- error messages ---------------------------------------------------------------------------------------------------


def yaml_lines(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """The line (1-based) of every mapping key and list item, by its path in the data."""
    found: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            here = (*path, key_node.value)
            found[here] = key_node.start_mark.line + 1
            found.update(yaml_lines(value_node, here))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*path, index)
            found[here] = item.start_mark.line + 1
            found.update(yaml_lines(item, here))
    return found


def data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error location as a path in the data: pydantic's union tags (``threshold``, ``metric``) dropped."""
    path: list[Any] = []
    here = data
    for i, part in enumerate(loc):
        if isinstance(here, dict) and (part == here.get("type") or part in UNION_TAGS):
            continue
        inside = isinstance(here, dict) and part in here
        if inside or (isinstance(here, list) and isinstance(part, int) and part < len(here)):
            here = here[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(here, dict):
            path.append(part)  # a field that is missing or not allowed
    return tuple(path)


def _errors(exc: ValidationError, data: dict[str, Any]) -> list[Any]:
    """The errors worth showing: not a list reported too short only because its items failed, nor a rule's echo of
    a bad pack-level value it inherited."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    found = data.get("rules")
    rules: list[Any] = found if isinstance(found, list) else []
    shown = []
    for error, loc in zip(errors, locs, strict=True):
        if error["type"] == "too_short" and any(o[: len(loc)] == loc and o != loc for o in locs):
            continue
        index = loc[1] if len(loc) >= 4 and loc[0] == "rules" and isinstance(loc[1], int) else None
        rule = rules[index] if index is not None and index < len(rules) else None
        if isinstance(rule, dict) and loc[3] in INHERITED and loc[3] not in rule:
            continue
        shown.append(error)
    return shown


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error.get("type") in ("literal_error", "enum", "union_tag_invalid"):
        message += f" (got {json.dumps(error.get('input'), ensure_ascii=False, default=str)})"
    return message


def _pack_problem(source: str, name: str, data: dict[str, Any], lines: dict[tuple[Any, ...], int], error: Any) -> str:
    path = data_path(data, tuple(error["loc"]))
    line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None)
    where = f"{source}:{line}" if line else source
    return f"{where}: pack {name}: {_field(data, path)}{_message(error)}"


def _override_problem(key: str, data: dict[str, Any], error: Any) -> str:
    """Named by the config key the value came from: ``policy.overrides.RULE.FIELD`` (``policy.overrides.pack.FIELD``
    for the pack's own fields)."""
    path = data_path(data, tuple(error["loc"]))
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int) and isinstance(data["rules"][path[1]], dict):
        where = ".".join(str(p) for p in (key, data["rules"][path[1]].get("id", path[1]), *path[2:]))
    else:
        where = ".".join(str(p) for p in (key, PACK_KEY, *path))
    return f"{where}: pack {data.get('pack', '?')}: {_message(error)}"


def _field(data: dict[str, Any], path: tuple[Any, ...]) -> str:
    """``rule ID: field.path: `` for an error inside a rule, ``field: `` otherwise."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        rule = data["rules"][path[1]]
        rule_id = rule.get("id", f"#{path[1] + 1}") if isinstance(rule, dict) else f"#{path[1] + 1}"
        inner = ".".join(str(p) for p in path[2:])
        return f"rule {rule_id}: {inner}: " if inner else f"rule {rule_id}: "
    return f"{'.'.join(str(p) for p in path)}: " if path else ""


def pack_schema() -> dict[str, Any]:
    """The JSON schema of a pack file (``yunguan policy schema``)."""
    schema = Pack.model_json_schema()
    schema["title"] = "yunguan regulation pack"
    return schema
