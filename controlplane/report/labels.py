"""The report's words in Chinese and English: sheet names, column headers, states, qualities and notes.

Kept beside the report rather than in ``controlplane.i18n`` because they are many and only the report reads them;
the shape is the same (key -> (Chinese, English)).
"""

from __future__ import annotations

from controlplane.i18n import Lang

LABELS: dict[str, tuple[str, str]] = {
    # titles and sheets
    "title": ("{month} 政务云资源使用情况月报", "Government cloud utilization report, {month}"),
    "subtitle": (
        "按使用单位和应用系统；实测数据为北京时间自然月（{first} 至 {last}）；批复为 {as_of} 当日有效的批复",
        (
            "per unit and system; measured over the calendar month in UTC+8 ({first} to {last}); "
            "allocations as approved and in force on {as_of}"
        ),
    ),
    "sheet.summary": ("汇总", "Summary"),
    "sheet.allocation": ("资源批复", "Allocation"),
    "sheet.measured": ("实测利用率", "Measured use"),
    "sheet.findings": ("问题与整改", "Findings"),
    "sheet.actions": ("处置措施", "Actions"),
    "sheet.vendor": ("报送与实测对比", "Reported vs measured"),
    "sheet.units": ("各单位汇总", "Per unit"),
    # summary facts
    "fact": ("项目", "item"),
    "value": ("数值", "value"),
    "fact.month": ("月份", "month"),
    "fact.generated": ("生成时间（北京时间）", "generated (UTC+8)"),
    "fact.units": ("使用单位数", "units"),
    "fact.systems": ("应用系统数", "systems"),
    "fact.lines": ("系统×云平台", "system x cloud lines"),
    "fact.vcpu": ("批复 vCPU 合计（核）", "approved vCPU, total"),
    "fact.memory": ("批复内存合计（GiB）", "approved memory GiB, total"),
    "fact.storage": ("批复存储合计（GiB）", "approved storage GiB, total"),
    "fact.instances": ("批复云主机合计", "approved instances, total"),
    "fact.measured": ("CPU 实测可信的系统", "systems with a trusted CPU measurement"),
    "fact.not_measured": ("CPU 实测未知、含估算或不完整的系统", "systems with CPU unknown, estimated or partial"),
    "fact.findings": ("问题数", "findings"),
    "fact.actions": ("处置措施数", "actions"),
    "fact.vendor": ("报送值 / 与实测不符", "reported figures / differing"),
    "fact.margin": ("不符判定（百分点）", "differs beyond (points)"),
    "not_recorded": ("尚未记录", "not recorded yet"),
    "findings_not_recorded": (
        "本系统尚未记录问题（问题生命周期未启用），此处不代表没有问题。",
        "This installation does not record findings yet; this is not the same as none.",
    ),
    "actions_not_recorded": (
        "本系统尚未记录处置措施（执行功能未启用），此处不代表没有处置。",
        "This installation does not record enforcement actions yet; this is not the same as none.",
    ),
    "none": ("无", "none"),
    "no_vendor": ("本月没有服务商报送的利用率。", "No vendor-reported figures for this month."),
    "chart.use": ("各系统平均与峰值利用率（%）", "Mean and peak utilization per system (%)"),
    "chart.vendor": ("服务商报送与实测对比（%）", "Vendor-reported against measured (%)"),
    "chart.mean": ("平均", "mean"),
    "chart.peak": ("峰值", "peak"),
    "chart.reported": ("报送", "reported"),
    "chart.measured": ("实测", "measured"),
    "chart.unknown": ("未知", "unknown"),
    "legend.quality": (
        (
            "质量：实测 = 样本覆盖足够且全为实测；含估算 = 部分为宿主机侧估算；"
            "不完整 = 有样本天数不足或部分云主机无法加权；未知 = 没有可用样本。"
        ),
        (
            "Quality: measured = enough days, all measured; estimated = some host-side estimates; partial = too few "
            "days or servers that cannot be weighed; unknown = nothing to go on."
        ),
    ),
    # columns
    "col.unit": ("使用单位", "unit"),
    "col.system": ("系统编号", "system code"),
    "col.name": ("应用系统", "system"),
    "col.cloud": ("云平台", "cloud"),
    "col.mode": ("服务模式", "mode"),
    "col.status": ("状态", "status"),
    "col.approval": ("审批文号", "approval number"),
    "col.kind": ("申请类型", "kind"),
    "col.from": ("生效日期", "effective from"),
    "col.to": ("有效期至", "effective to"),
    "col.vcpu": ("vCPU（核）", "vCPU"),
    "col.memory": ("内存（GiB）", "memory GiB"),
    "col.storage": ("存储（GiB）", "storage GiB"),
    "col.instances": ("云主机数量", "instances"),
    "col.rack_units": ("机柜U数", "rack units"),
    "col.power": ("功率（W）", "power W"),
    "col.bandwidth": ("带宽（Mbps）", "bandwidth Mbps"),
    "col.devices": ("设备数量", "devices"),
    "col.resource": ("资源", "resource"),
    "col.basis": ("口径", "of"),
    "col.mean": ("平均利用率", "mean"),
    "col.peak": ("峰值利用率", "peak"),
    "col.peak_at": ("峰值时间（北京时间）", "peak hour (UTC+8)"),
    "col.peak_scope": ("峰值对象", "peak at"),
    "col.samples": ("样本数", "samples"),
    "col.estimated": ("估算样本", "estimated"),
    "col.missing": ("缺失", "missing"),
    "col.days": ("有样本天数", "days with samples"),
    "col.month_days": ("当月天数", "days in month"),
    "col.quality": ("数据质量", "quality"),
    "col.note": ("说明", "note"),
    "col.systems": ("系统数", "systems"),
    "col.cpu_mean": ("CPU 平均", "CPU mean"),
    "col.memory_mean": ("内存平均", "memory mean"),
    "col.disk_mean": ("存储平均", "disk mean"),
    "col.findings": ("问题数", "findings"),
    "col.differs": ("报送不符", "reported differs"),
    "col.id": ("编号", "id"),
    "col.pack": ("规则包", "pack"),
    "col.rule": ("规则", "rule"),
    "col.citation": ("依据", "citation"),
    "col.scope": ("对象", "scope"),
    "col.outcome": ("处理", "outcome"),
    "col.state": ("状态", "state"),
    "col.opened": ("发现时间（北京时间）", "opened (UTC+8)"),
    "col.deadline": ("期限", "deadline"),
    "col.finding": ("问题编号", "finding"),
    "col.action": ("措施", "action"),
    "col.target": ("对象", "target"),
    "col.at": ("最近变更（北京时间）", "last change (UTC+8)"),
    "col.server": ("云主机ID", "server"),
    "col.metric": ("指标", "metric"),
    "col.vendor": ("报送单位", "vendor"),
    "col.reported": ("报送", "reported"),
    "col.measured": ("实测", "measured"),
    "col.difference": ("差值（百分点）", "difference (points)"),
    "col.verdict": ("结论", "verdict"),
    # values
    "resource.cpu": ("CPU", "CPU"),
    "resource.memory": ("内存", "memory"),
    "resource.disk": ("存储", "disk"),
    "basis.capacity": ("云主机自身容量", "servers' capacity"),
    "basis.approval": ("批复量", "approval"),
    "basis.": ("—", "—"),
    "quality.measured": ("实测", "measured"),
    "quality.estimated": ("含估算", "estimated"),
    "quality.partial": ("不完整", "partial"),
    "quality.unknown": ("未知", "unknown"),
    "why.not-measured": ("该云平台上没有可测量的云项目或命名空间", "nothing on this cloud to measure"),
    "why.no-samples": ("当月没有样本", "no samples in the month"),
    "why.estimates": ("{n} 个样本中有 {k} 个是估算值", "{k} of {n} samples are estimates"),
    "why.coverage": ("仅 {days}/{of} 天有样本", "samples on only {days} of {of} days"),
    "why.unweighted": (
        "{servers} 台云主机缺少容量数据，未计入加权平均",
        "{servers} server(s) without a capacity figure",
    ),
    "why.no-approval": ("没有批复量，无法计算利用率", "nothing approved to measure against"),
    "why.no-footprint": ("该系统在此云平台上没有可测量的云项目", "no project on this cloud to measure"),
    "mode.shared": ("共享云", "shared"),
    "mode.dedicated": ("专享云", "dedicated"),
    "mode.hosting": ("托管", "hosting"),
    "mode.bare-metal": ("裸金属", "bare metal"),
    "status.active": ("在用", "active"),
    "status.terminating": ("注销中", "terminating"),
    "status.terminated": ("已注销", "terminated"),
    "kind.standard": ("标准", "standard"),
    "kind.temporary": ("临时", "temporary"),
    "kind.emergency": ("应急", "emergency"),
    "state.open": ("待处理", "open"),
    "state.reminded": ("已提醒", "reminded"),
    "state.urged": ("已督促", "urged"),
    "state.enforceable": ("可直接处置", "enforceable"),
    "state.enforced": ("已处置", "enforced"),
    "state.resolved": ("已整改", "resolved"),
    "state.exempted": ("已豁免", "exempted"),
    "state.disputed": ("有异议", "disputed"),
    "outcome.downsize": ("核减", "downsize"),
    "outcome.reclaim": ("回收", "reclaim"),
    "outcome.freeze": ("暂停冻结", "freeze"),
    "outcome.expand-eligible": ("可扩容", "may expand"),
    "action.resize-server": ("调整云主机规格", "resize server"),
    "action.set-namespace-quota": ("设置命名空间配额", "set namespace quota"),
    "action.set-project-quota": ("设置云项目配额", "set project quota"),
    "action.stop-server": ("停止云主机", "stop server"),
    "action_state.planned": ("待批准", "planned"),
    "action_state.approved": ("已批准", "approved"),
    "action_state.applying": ("执行中", "applying"),
    "action_state.done": ("已完成", "done"),
    "action_state.failed": ("失败", "failed"),
    "verdict.agrees": ("一致", "agrees"),
    "verdict.differs": ("不符", "DIFFERS"),
    "verdict.unknown": ("未知", "unknown"),
    "metric.cpu_mean": ("CPU平均利用率", "CPU mean"),
    "metric.memory_mean": ("内存平均利用率", "memory mean"),
    "metric.storage": ("存储利用率", "storage"),
    "metric.cpu_peak": ("CPU峰值利用率", "CPU peak"),
    "metric.memory_peak": ("内存峰值利用率", "memory peak"),
    "whole_system": ("全系统", "whole system"),
    # CLI
    "cli.written": (
        "已生成 {month} 月报：{out}（{format}，SHA-256 {sha256}），已记入操作日志（序号 {seq}）",
        "monthly report for {month} written to {out} ({format}, SHA-256 {sha256}), logged as event {seq}",
    ),
    "cli.not_over": (
        "{month} 尚未结束（北京时间），不能生成月报",
        "{month} is not over yet (UTC+8): no monthly report for it",
    ),
}


def text(lang: Lang, key: str, **values: object) -> str:
    """The label in ``lang``; an unknown ``state.x``-style key falls back to its raw value ``x``."""
    pair = LABELS.get(key)
    if pair is None:
        return key.split(".", 1)[-1]
    zh, en = pair
    return (zh if lang == "zh" else en).format(**values)
