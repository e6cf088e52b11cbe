"""The report as one self-contained HTML page: inline CSS, charts drawn here as inline SVG, no script and nothing
fetched, so it opens offline, in a mail client, or archived years later exactly as it was generated.

Charts: each system's mean and peak CPU, memory and disk over the month (a bar for the mean, a tick for the peak;
estimated or partial figures drawn pale with a dashed outline and named, unknown ones written as such, never drawn
as zero), and the vendors' reported figures against the measured ones. The tables carry the same sections as the
workbook. Pure: the same report gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from controlplane.clock import CST
from controlplane.i18n import Lang
from controlplane.report.labels import text
from controlplane.report.model import RESOURCES, Measured, MonthlyReport, Quality, VendorFigure
from controlplane.report.sections import Section, facts, per_unit, sections, shown, tenth

FONTS = (
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
    '"Microsoft YaHei", "WenQuanYi Micro Hei", "Heiti SC", sans-serif'
)
COLOURS = {"cpu": "#2e75b6", "memory": "#548235", "disk": "#c55a11"}
PEAK = "#7f0000"
CSS = f"""
body {{ font-family: {FONTS}; color: #1a1a1a; margin: 24px 32px; font-size: 14px; line-height: 1.45; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 28px 0 8px; border-bottom: 2px solid #1f4e79; padding-bottom: 3px; }}
.sub {{ color: #555; margin: 0 0 16px; }}
.facts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 8px; margin: 8px 0; }}
.fact {{ background: #f2f6fa; border-left: 3px solid #1f4e79; padding: 6px 10px; }}
.fact .k {{ color: #555; font-size: 12px; }} .fact .v {{ font-size: 16px; font-weight: 600; }}
table {{ border-collapse: collapse; margin: 6px 0 4px; font-size: 13px; }}
th {{ background: #1f4e79; color: #fff; font-weight: 600; padding: 4px 8px; text-align: left; position: sticky;
  top: 0; }}
td {{ border-bottom: 1px solid #d9d9d9; padding: 3px 8px; vertical-align: top; white-space: nowrap; }}
th {{ white-space: nowrap; }}
td.w {{ white-space: normal; min-width: 14em; max-width: 28em; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
tr.differs td {{ background: #fde9e7; }}
.note {{ color: #595959; font-style: italic; margin: 4px 0 10px; }}
.wrap {{ overflow-x: auto; }}
svg text {{ font-family: {FONTS}; }}
@media print {{ th {{ position: static; }} h2 {{ break-after: avoid; }} }}
"""
NUMERIC = {"int", "decimal", "percent", "points", "date", "time"}
WRAPPED = {"note"}  # long free text: the only cells that wrap


def render_html(report: MonthlyReport, lang: Lang) -> bytes:
    last = (report.end.astimezone(CST) - dt.timedelta(days=1)).date()
    title = text(lang, "title", month=report.month)
    subtitle = text(lang, "subtitle", first=report.start.astimezone(CST).date(), last=last, as_of=report.as_of)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="yunguan"><title>{escape(title)}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(subtitle)}</p>',
        f"<h2>{escape(text(lang, 'sheet.summary'))}</h2>",
        _facts(report, lang),
        _table(per_unit(report, lang)),
        f"<h2>{escape(text(lang, 'chart.use'))}</h2>",
        use_chart(report, lang),
    ]
    for section in sections(report, lang):
        parts.append(f'<h2 id="{section.key}">{escape(section.title)}</h2>')
        if section.key == "vendor" and report.vendor:
            parts.append(vendor_chart(report.vendor, lang))
        parts.append(_table(section))
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


def _facts(report: MonthlyReport, lang: Lang) -> str:
    cells = []
    for label, value in facts(report, lang):
        kind = "time" if isinstance(value, dt.datetime) else "text"
        cells.append(
            f'<div class="fact"><div class="k">{escape(label)}</div>'
            f'<div class="v">{escape(shown(value, kind))}</div></div>'
        )
    return f'<div class="facts">{"".join(cells)}</div>'


def _cell_class(key: str, kind: str) -> str:
    if kind in NUMERIC:
        return ' class="n"'
    return ' class="w"' if key in WRAPPED else ""


def _table(section: Section) -> str:
    head = "".join(f"<th>{escape(c.header)}</th>" for c in section.columns)
    lines = []
    differs = text("en", "verdict.differs"), text("zh", "verdict.differs")
    for values in section.rows:
        cells = "".join(
            f"<td{_cell_class(c.key, c.kind)}>{escape(shown(v, c.kind))}</td>"
            for c, v in zip(section.columns, values, strict=True)
        )
        flagged = section.key == "vendor" and any(v in differs for v in values)
        lines.append(f'<tr class="differs">{cells}</tr>' if flagged else f"<tr>{cells}</tr>")
    note = f'<p class="note">{escape(section.note)}</p>' if section.note else ""
    table = f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>'
    return table + note if section.rows else note or table


# -- charts ----------------------------------------------------------------------------------------------------------

LABEL_W = 300
BAR_W = 560
BAR_H = 13
GAP = 3
ROW_PAD = 12
RIGHT_W = 150


def _svg_open(width: int, height: float, label: str) -> str:
    box = f'width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
    return f'<svg role="img" {box} aria-label="{escape(label)}">'


def _x(percent: float) -> float:
    return LABEL_W + BAR_W * max(0.0, min(100.0, percent)) / 100


def _short(value: str, limit: int = 22) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _axis(height: float, top: float) -> list[str]:
    out = []
    for tick in range(0, 101, 20):
        x = _x(tick)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}" stroke="#d9d9d9"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#555">{tick}%</text>')
    return out


def _bar(m: Measured, y: float, lang: Lang) -> list[str]:
    colour = COLOURS[m.resource]
    name = escape(text(lang, f"resource.{m.resource}"))
    out = [f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 2}" font-size="11" text-anchor="end" fill="#555">{name}</text>']
    if m.mean is None:
        word = escape(text(lang, f"quality.{m.quality.value}"))
        out.append(f'<text x="{LABEL_W + 4}" y="{y + BAR_H - 2}" font-size="11" fill="#888">{word}</text>')
        return out
    solid = m.quality is Quality.MEASURED
    style = (
        f'fill="{colour}"' if solid else f'fill="{colour}" fill-opacity="0.35" stroke="{colour}" stroke-dasharray="3 2"'
    )
    width = _x(m.mean) - LABEL_W
    out.append(f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" {style}/>')
    label = f"{tenth(m.mean)}%"
    if m.peak is not None:
        px = _x(m.peak)
        out.append(
            f'<line x1="{px:.1f}" y1="{y - 1}" x2="{px:.1f}" y2="{y + BAR_H + 1}" stroke="{PEAK}" stroke-width="2"/>'
        )
        label += f" / {text(lang, 'chart.peak')} {tenth(m.peak)}%"
    if not solid:
        label += f" ({text(lang, f'quality.{m.quality.value}')})"
    out.append(f'<text x="{LABEL_W + BAR_W + 8}" y="{y + BAR_H - 2}" font-size="11" fill="#333">{escape(label)}</text>')
    return out


def use_chart(report: MonthlyReport, lang: Lang) -> str:
    """Per system and cloud: the month's mean (bar) and peak (tick) of CPU, memory and disk, in percent."""
    lines = [s for s in report.systems if s.measured]
    if not lines:
        return f'<p class="note">{escape(text(lang, "none"))}</p>'
    row_h = len(RESOURCES) * (BAR_H + GAP) + ROW_PAD
    top = 30
    height = top + row_h * len(lines) + 24
    width = LABEL_W + BAR_W + RIGHT_W + 80
    svg = [
        _svg_open(width, height, text(lang, "chart.use")),
        *_legend(lang),
        *_axis(height, top - 4),
    ]
    for index, s in enumerate(lines):
        y = top + index * row_h
        if index % 2:
            svg.append(f'<rect x="0" y="{y - 4}" width="{width}" height="{row_h}" fill="#f7f9fb"/>')
        where = _short(f"{s.system} · {s.cloud}", 30)
        svg.append(f'<text x="6" y="{y + 11}" font-size="12" font-weight="600">{escape(_short(s.name))}</text>')
        svg.append(f'<text x="6" y="{y + 26}" font-size="11" fill="#555">{escape(where)}</text>')
        for number, m in enumerate(s.measured):
            svg += _bar(m, y + number * (BAR_H + GAP), lang)
    svg.append("</svg>")
    return f'<div class="wrap">{"".join(svg)}</div>'


def _legend(lang: Lang) -> list[str]:
    out = []
    x = LABEL_W
    for resource in RESOURCES:
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{COLOURS[resource]}"/>')
        out.append(f'<text x="{x + 16}" y="16" font-size="12">{escape(text(lang, f"resource.{resource}"))}</text>')
        x += 90
    out.append(f'<line x1="{x + 6}" y1="4" x2="{x + 6}" y2="20" stroke="{PEAK}" stroke-width="2"/>')
    out.append(f'<text x="{x + 14}" y="16" font-size="12">{escape(text(lang, "chart.peak"))}</text>')
    x += 80
    out.append(
        f'<rect x="{x}" y="6" width="12" height="12" fill="#888" fill-opacity="0.35" stroke="#888" '
        'stroke-dasharray="3 2"/>'
    )
    shaded = f"{text(lang, 'quality.estimated')} / {text(lang, 'quality.partial')}"
    out.append(f'<text x="{x + 16}" y="16" font-size="12">{escape(shaded)}</text>')
    return out


def vendor_chart(figures: tuple[VendorFigure, ...], lang: Lang) -> str:
    """Each reported figure (bar) against the measured one (dark bar below it, or "unknown"); differing rows red."""
    pair_h = 2 * (BAR_H + GAP) + ROW_PAD
    top = 30
    height = top + pair_h * len(figures) + 24
    width = LABEL_W + BAR_W + RIGHT_W + 80
    reported, measured = text(lang, "chart.reported"), text(lang, "chart.measured")
    svg = [
        _svg_open(width, height, text(lang, "chart.vendor")),
        f'<rect x="{LABEL_W}" y="6" width="12" height="12" fill="#9dc3e6"/>',
        f'<text x="{LABEL_W + 16}" y="16" font-size="12">{escape(reported)}</text>',
        f'<rect x="{LABEL_W + 100}" y="6" width="12" height="12" fill="#1f4e79"/>',
        f'<text x="{LABEL_W + 116}" y="16" font-size="12">{escape(measured)}</text>',
        *_axis(height, top - 4),
    ]
    for index, v in enumerate(figures):
        y = top + index * pair_h
        if v.verdict == "differs":
            svg.append(f'<rect x="0" y="{y - 4}" width="{width}" height="{pair_h}" fill="#fde9e7"/>')
        who = v.system + (f" · {v.server}" if v.server else "")
        svg.append(f'<text x="6" y="{y + 11}" font-size="12" font-weight="600">{escape(_short(who, 30))}</text>')
        svg.append(
            f'<text x="6" y="{y + 26}" font-size="11" fill="#555">'
            f"{escape(_short(text(lang, f'metric.{v.metric}') + ' · ' + v.vendor, 30))}</text>"
        )
        svg.append(
            f'<rect x="{LABEL_W}" y="{y}" width="{_x(float(v.reported)) - LABEL_W:.1f}" height="{BAR_H}" '
            'fill="#9dc3e6"/>'
        )
        svg.append(
            f'<text x="{LABEL_W + BAR_W + 8}" y="{y + BAR_H - 2}" font-size="11">'
            f"{escape(reported)} {tenth(v.reported)}%</text>"
        )
        y2 = y + BAR_H + GAP
        if v.measured is None:
            word = escape(text(lang, "chart.unknown"))
            svg.append(f'<text x="{LABEL_W + 4}" y="{y2 + BAR_H - 2}" font-size="11" fill="#888">{word}</text>')
            continue
        svg.append(
            f'<rect x="{LABEL_W}" y="{y2}" width="{_x(float(v.measured)) - LABEL_W:.1f}" height="{BAR_H}" '
            'fill="#1f4e79"/>'
        )
        verdict = escape(text(lang, f"verdict.{v.verdict}"))
        svg.append(
            f'<text x="{LABEL_W + BAR_W + 8}" y="{y2 + BAR_H - 2}" font-size="11">'
            f"{escape(measured)} {tenth(v.measured)}% · {verdict}</text>"
        )
    svg.append("</svg>")
    return f'<div class="wrap">{"".join(svg)}</div>'
