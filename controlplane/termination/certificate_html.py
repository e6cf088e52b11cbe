"""The wipe certificate as a printable page (zh and en labels side by side). Everything from the certificate is
escaped; the page carries the signature so a printout can be matched with its JSON."""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = (
    "body{font-family:sans-serif;margin:2em;font-size:11pt}table{border-collapse:collapse;width:100%;margin:1em 0}"
    "td,th{border:1px solid #999;padding:3px 5px;text-align:left;vertical-align:top}th{background:#eee}"
    ".mono{font-family:monospace;font-size:9pt;word-break:break-all}@media print{body{margin:0}}"
)


def _v(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    return escape(str(value))


def _pairs(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{_v(value)}</td></tr>" for label, value in rows)
    return f"<table>{cells}</table>"


def _samples(samples: list[dict[str, Any]]) -> str:
    return "<br>".join(f"{_v(s.get('offset'))}+{_v(s.get('length'))}: {_v(s.get('sha256'))}" for s in samples) or "—"


def render_html(document: dict[str, Any]) -> str:
    body: dict[str, Any] = document["certificate"]
    signature: dict[str, Any] = document["signature"]
    ops = body["operators"]
    head = _pairs(
        [
            ("应用系统 System", f"{body['system']['name']} ({body['system']['key']})"),
            ("使用单位 Unit", body["unit"]),
            ("终止工单 Case", body["case"]),
            ("申请人 Requested by", ops["requester"]),
            ("申请时间 Requested at", body["request"]["at"]),
            ("停止使用日期 Stopped use on", body["request"]["stopped_use_on"]),
            ("逾期申请 Late request", body["request"]["late"]),
            ("审批人 Approved by", ops["approver"]),
            ("过渡期截止 Transition last day", body["approval"]["transition_ends"]),
            ("迁移备份确认人 Backup confirmed by", ops["backup_confirmer"]),
            ("备份证明 SHA-256 Backup evidence", body["backup"]["evidence"]["sha256"]),
            ("数据清除复核人 Second approver", ops["second_approver"]),
            ("执行人 Executed by", ", ".join(ops["executors"])),
            ("清除开始 Wipe started", body["wipe_started_at"]),
            ("回收确认 Reclaimed at", body["reclaimed_at"]),
            ("计费截止 Billing end", body["billing_end"]),
        ]
    )
    header = (
        "<tr><th>云平台 Cloud</th><th>类型 Kind</th><th>资源 Resource</th><th>方法 Method</th>"
        "<th>类别 Category (NIST 800-88)</th><th>开始/结束 Start/end</th><th>校验 Verified</th>"
        "<th>抽样校验 Samples (offset+length: SHA-256)</th><th>日志序号 Log seq</th></tr>"
    )
    rows = "".join(
        "<tr>"
        f"<td>{_v(r['cloud'])}</td><td>{_v(r['kind'])}</td>"
        f"<td>{_v(r['name'])}<br><span class=mono>{_v(r['id'])}</span></td>"
        f"<td>{_v(r['method'])}</td><td>{_v(r['category'])}</td>"
        f"<td>{_v(r['started'])}<br>{_v(r['ended'])}</td><td>{_v(r['verified'])}</td>"
        f"<td class=mono>{_samples(r['samples'])}</td><td>{_v(r['intent_seq'])} / {_v(r['result_seq'])}</td>"
        "</tr>"
        for r in body["resources"]
    )
    events = ", ".join(f"{_v(e['seq'])}" for e in body["events"])
    title = f"数据清除证明 Data wipe certificate — {body['system']['key']}"
    return "".join(
        [
            '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            head,
            f"<h2>资源清除记录 Resources</h2><table>{header}{rows}</table>",
            f"<h2>操作日志 Operation log seq</h2><p class=mono>{events}</p>",
            "<h2>签名 Signature (Ed25519)</h2>",
            _pairs(
                [
                    ("签发 Issued", f"{body['issued_at']} {body['issued_by']}"),
                    ("密钥 Key id", signature.get("key_id")),
                ]
            ),
            f"<p class=mono>{_v(signature.get('value'))}</p>",
            "<p>核验 Verify: <code>yunguan wipe verify CERTIFICATE.json</code></p>",
            "</body></html>",
        ]
    )
