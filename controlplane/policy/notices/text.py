"""What a notice says, in Chinese or English: the system and its unit, the evidence (numbers and window), the
deadline and the articles. Rendered from the snapshot a notice keeps (``outbox``), so a retried delivery says
exactly what the first try said; the phrases are in ``controlplane.i18n`` under ``notice.*``.

Also the short text for the resource itself: a Kubernetes namespace annotation ``yunguan.io/notice-<key>`` or an
OpenStack project property of the same name, which enforcement puts there through the adapters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.clock import CST
from controlplane.i18n import MESSAGES, Lang, t

ANNOTATION_PREFIX = "yunguan.io/notice-"  # the Kubernetes adapter's prefix; the same name serves as project property
GIB = 2**30


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class NoticeMark:
    """A notice's trace on the resource: ``key`` (without the prefix, as ``annotate(namespace, {key: text})``
    takes it) and a one-line ``text``."""

    key: str
    text: str

    @property
    def name(self) -> str:
        """The full annotation / project property name."""
        return ANNOTATION_PREFIX + self.key

    def annotations(self) -> dict[str, str]:
        return {self.key: self.text}


def _label(lang: Lang, key: str, fallback: str, **values: object) -> str:
    return t(lang, key, **values) if key in MESSAGES else fallback


def _number(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric.endswith("_percent"):
        return f"{value:.1f}%"
    if metric.endswith("_bytes"):
        return f"{value / GIB:.1f} GiB"
    return f"{value:g}"


def _day(value: Any) -> dt.date:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when.astimezone(CST).date()


def window_days(start: Any, end: Any) -> tuple[dt.date, dt.date]:
    """First and last day (UTC+8) of a window [start, end)."""
    end_at = end if isinstance(end, dt.datetime) else dt.datetime.fromisoformat(str(end))
    return _day(start), _day(end_at - dt.timedelta(microseconds=1))


def evidence_line(item: Mapping[str, Any], lang: Lang) -> str:
    """``CPU use mean 4.2% < 10.0% (2026-10-01 to 2026-10-31, 744 samples)``."""
    metric = str(item["metric"])
    first, last = window_days(item["window_start"], item["window_end"])
    return t(
        lang,
        "notice.evidence",
        metric=_label(lang, f"notice.metric.{metric}", metric),
        aggregate=_label(lang, f"notice.aggregate.{item['aggregate']}", str(item["aggregate"])),
        value=_number(metric, item.get("value")),
        op={"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}.get(str(item["comparison"]), str(item["comparison"])),
        threshold=_number(metric, float(item["threshold"])),
        first=first,
        last=last,
        samples=item.get("samples", 0),
    )


def _values(snapshot: Mapping[str, Any], lang: Lang) -> dict[str, object]:
    scope_kind = str(snapshot.get("scope_kind", "system"))
    scope = (
        t(lang, "notice.scope.system")
        if scope_kind == "system"
        else f"{_label(lang, f'notice.scope.{scope_kind}', scope_kind)} {snapshot.get('scope_id', '')}"
    )
    outcome = str(snapshot.get("outcome", ""))
    action = snapshot.get("action") or {}
    return {
        "id": snapshot.get("finding_id", ""),
        "finding": snapshot.get("key", ""),
        "unit": snapshot.get("unit") or "—",
        "system": snapshot.get("system_name") or snapshot.get("system", ""),
        "code": snapshot.get("system", ""),
        "cloud": snapshot.get("cloud") or t(lang, "notice.all_clouds"),
        "scope": scope,
        "rule": snapshot.get("rule_id", ""),
        "citation": snapshot.get("citation", ""),
        "period": snapshot.get("period", ""),
        "deadline": snapshot.get("deadline") or "—",
        "step": snapshot.get("step_citation") or snapshot.get("citation", ""),
        "outcome": _label(lang, f"notice.outcome.{outcome}", outcome),
        "day": snapshot.get("action_day") or "—",
        "action": (action.get(lang) or action.get("en") or action.get("zh") or "")
        if isinstance(action, Mapping)
        else str(action),
    }


def _next_line(snapshot: Mapping[str, Any], lang: Lang, values: Mapping[str, object]) -> str:
    kind = str(snapshot["kind"])
    if kind == "maintenance":
        return t(lang, "notice.next.maintenance", **values)
    if snapshot.get("outcome") == "expand-eligible":
        return t(lang, "notice.next.expand", **values)
    if kind == "enforceable":
        return t(lang, "notice.next.enforceable", **values)
    if not snapshot.get("deadline"):
        return t(lang, f"notice.next.{kind}.none", **values)
    if kind == "reminded" and snapshot.get("next_step") == "enforceable":  # no urging in this escalation
        return t(lang, "notice.next.reminded.enforceable", **values)
    return t(lang, f"notice.next.{kind}", **values)


def render(snapshot: Mapping[str, Any], lang: Lang) -> Rendered:
    """Subject and plain-text body of a notice."""
    values = _values(snapshot, lang)
    kind = str(snapshot["kind"])
    subject = t(lang, f"notice.subject.{kind}", **values)
    lines = [t(lang, "notice.greeting", **values), "", t(lang, "notice.finding", **values)]
    lines += ["  - " + evidence_line(item, lang) for item in snapshot.get("evidence") or ()]
    if snapshot.get("reason"):
        lines.append("  " + str(snapshot["reason"]))
    lines += ["", _next_line(snapshot, lang, values), "", t(lang, "notice.footer", **values)]
    return Rendered(subject, "\n".join(lines) + "\n")


def mark(snapshot: Mapping[str, Any], lang: Lang) -> NoticeMark:
    """The annotation / project property for this notice: one per finding (a later notice replaces the text)."""
    values = _values(snapshot, lang)
    evidence = "; ".join(evidence_line(item, lang) for item in snapshot.get("evidence") or ())
    text = " ".join(
        part
        for part in (
            t(lang, f"notice.subject.{snapshot['kind']}", **values),
            evidence,
            _next_line(snapshot, lang, values),
        )
        if part
    )
    return NoticeMark(key=f"finding-{snapshot.get('finding_id', '')}", text=text)
