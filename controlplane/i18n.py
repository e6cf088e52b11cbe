"""Chinese and English for what operators read: CLI labels, summaries and notices.

The language comes from ``--lang``, else the config's ``lang``, else the locale (zh_* means Chinese).
"""

from __future__ import annotations

import os
from typing import Literal

Lang = Literal["zh", "en"]

# key -> (Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "unit": ("使用单位", "unit"),
    "system": ("应用系统", "system"),
    "cloud": ("云平台", "cloud"),
    "vcpu": ("vCPU（核）", "vCPU"),
    "memory_gib": ("内存（GiB）", "memory GiB"),
    "storage_gib": ("存储（GiB）", "storage GiB"),
    "instances": ("云主机", "instances"),
    "rack_units": ("机柜U数", "rack U"),
    "power_w": ("功率（W）", "power W"),
    "bandwidth_mbps": ("带宽（Mbps）", "bandwidth Mbps"),
    "devices": ("设备", "devices"),
    "kind": ("类型", "kind"),
    "approval": ("审批文号", "approval"),
    "period": ("有效期", "in force"),
    "effective_from": ("生效", "from"),
    "effective_to": ("截止", "to"),
    "major_change": ("重大变更", "major change"),
    "revision": ("修订", "revision"),
    "recorded_at": ("录入时间", "recorded"),
    "ledger_title": ("{day} 批复资源台账", "Approved allocations on {day}"),
    "history_title": ("资源台账修订历史", "Ledger revision history"),
    "import_ok": ("已导入 {source}", "imported {source}"),
    "import_dry": (
        "试运行：{source} 校验通过，未写入任何内容",
        "dry run: {source} is valid, nothing written",
    ),
    "import_rejected": (
        "{source} 被整体拒绝，共 {n} 处错误，未写入任何内容：",
        "{source} rejected whole, {n} error(s), nothing written:",
    ),
    "created": ("新增", "created"),
    "updated": ("更新", "updated"),
    "unchanged": ("未变化的修订", "unchanged revisions"),
    "major_changes": (
        "重大变更（变化超过50%，按新上云办理，亳州第22条）：",
        "major changes (> 50%, handled as new onboarding, Bozhou 22):",
    ),
    "nothing_approved": ("{day} 没有批复的资源", "nothing approved on {day}"),
    "db_upgraded": ("数据库已升级到 {rev}：{url}", "database at {rev}: {url}"),
    "verify_ok": (
        "操作日志完整：{events} 条事件（序号 {first}–{last}），{checkpoints} 个签名检查点有效",
        "operation log intact: {events} events (seq {first}-{last}), {checkpoints} signed checkpoints valid",
    ),
    "verify_bad": ("操作日志被篡改：首个异常序号 {seq}", "operation log TAMPERED: first bad seq {seq}"),
    "exported": (
        "已导出 {events} 条事件和 {checkpoints} 个检查点到 {out}",
        "exported {events} events and {checkpoints} checkpoints to {out}",
    ),
    "checkpoint_signed": ("已签名检查点：序号 {seq}", "signed checkpoint at seq {seq}"),
    "checkpoint_empty": ("操作日志为空，无需签名", "the operation log is empty; nothing to sign"),
    "purged": ("已清理 {n} 条超过保留期的事件", "purged {n} events older than the retention"),
    "error": ("错误", "error"),
    # API tokens (yunguan token; controlplane.api.tokens)
    "token_created": (
        "已创建令牌 {id}（{role}{scope}，有效期至 {expires}）。令牌只显示这一次，请立即妥善保存：",
        "token {id} created ({role}{scope}, valid until {expires}). It is shown only this once: keep it safe now:",
    ),
    "token_revoked": (
        "已吊销令牌 {id}（{name}）；运行中的代理最迟 {seconds} 秒内拒绝它",
        "token {id} ({name}) revoked; a running agent refuses it within {seconds} s",
    ),
    "tokens_title": ("API 令牌（{n} 个）", "API tokens ({n})"),
    "tokens_none": ("没有 API 令牌", "no API tokens"),
    "token.id": ("编号", "id"),
    "token.name": ("名称", "name"),
    "token.role": ("角色", "role"),
    "token.scope": ("范围", "scope"),
    "token.created": ("创建时间", "created"),
    "token.created_by": ("创建人", "created by"),
    "token.expires": ("有效期至", "expires"),
    "token.status": ("状态", "status"),
    "reconcile_title": ("对账结果（运行 {run}）", "Reconcile run {run}"),
    "reconcile_dry": ("试运行：未记录", "dry run: not recorded"),
    "status": ("状态", "status"),
    "api_calls": ("API 调用", "API calls"),
    "new": ("新增", "new"),
    "resolved": ("已消除", "resolved"),
    "partial_note": (
        "{cloud} 清单不完整，未从缺失推断任何结论：{why}",
        "{cloud} listing incomplete, nothing concluded from absence: {why}",
    ),
    "drift_class": ("偏差类型", "class"),
    "records_pulled": (
        "{cloud}：{n} 条云平台操作记录写入操作日志",
        "{cloud}: {n} cloud operation records written to the operation log",
    ),
    "resource": ("资源", "resource"),
    "detail": ("详情", "detail"),
    "no_drift": ("没有偏差", "no drift"),
    "usage_collected": ("{cloud}：写入 {n} 个用量样本", "{cloud}: {n} usage samples written"),
    "usage_partial": ("{cloud}：用量不完整：{why}", "{cloud}: usage incomplete: {why}"),
    "usage_none": ("{cloud}：该云平台不提供用量", "{cloud}: this cloud kind reports no usage"),
    "sweep_done": (
        "{cloud}：宿主机 {ok}/{hosts} 台正常，{domains} 台虚拟机，{n} 个用量样本，耗时 {seconds} 秒",
        "{cloud}: {ok}/{hosts} hypervisors answered, {domains} domains, {n} usage samples, {seconds} s",
    ),
    "sweep_host_failed": ("{cloud}：宿主机 {host} 失败：{why}", "{cloud}: hypervisor {host} failed: {why}"),
    "sweep_unknown": (
        "{cloud}：宿主机 {host} 上的虚拟机 {name}（{uuid}）不属于云平台的任何云主机",
        "{cloud}: domain {name} ({uuid}) on hypervisor {host} is no server of the cloud",
    ),
    "sweep_discovery": ("{cloud}：未能列出全部宿主机：{why}", "{cloud}: could not list every hypervisor: {why}"),
    "enforce_no_pack": ("未配置政策包（policy.pack）", "no policy pack is configured (policy.pack)"),
    "enforce_planned": ("已生成执行计划：{action}", "planned: {action}"),
    "enforce_not_planned": ("未生成计划：{action}：{why}", "no plan for {action}: {why}"),
    "enforce_title": ("执行动作", "enforcement actions"),
    "enforce_nothing_to_approve": ("问题 {id} 没有待批准的计划", "finding {id} has no planned action to approve"),
    "enforce_approved": ("已批准：{action}", "approved: {action}"),
    "enforce_done": ("已执行并核验：{action}", "done and verified: {action}"),
    "enforce_resumed": (
        "中断后已核验完成（未重复执行）：{action}",
        "resumed after an interruption, not repeated: {action}",
    ),
    "enforce_notice": (
        "已发出维护通知（至少提前2个工作日，酒泉第13条）：{action}",
        "maintenance notice sent (2 working days ahead, Jiuquan 13): {action}",
    ),
    "enforce_waiting": ("暂不执行：{action}：{why}", "not now: {action}: {why}"),
    "enforce_failed": ("执行失败：{action}：{why}", "failed: {action}: {why}"),
    "sweep_no_hosts": ("{cloud}：没有可采集的宿主机", "{cloud}: no hypervisors to sweep"),
    "usage_title": ("{target} 的用量（{cloud}）", "usage of {target} ({cloud})"),
    "no_usage": (
        "没有 {target} 的用量样本：先运行 yunguan usage collect",
        "no usage samples of {target}: run yunguan usage collect first",
    ),
    "metric": ("指标", "metric"),
    "used": ("已用", "used"),
    "approved": ("批复", "approved"),
    "percent": ("使用率", "use %"),
    "measured_at": ("采样时间", "measured at"),
    "source": ("来源", "source"),
    "usage.quality": ("质量", "quality"),
    "usage.unit": ("单位", "unit"),
    "usage.mean": ("平均", "mean"),
    "usage.max": ("峰值", "max"),
    "usage.samples": ("样本数", "samples"),
    "usage.estimated": ("估算", "estimated"),
    "usage.missing": ("缺失", "missing"),
    "usage.scopes": ("对象数", "scopes"),
    "usage_window_title": (
        "{target} 的用量（{cloud}，{first} 至 {last}，北京时间）",
        "usage of {target} ({cloud}), {first} to {last} (UTC+8)",
    ),
    "usage_no_rollups": (
        "{target} 在该时段没有用量汇总：先运行 yunguan usage rollup",
        "no usage rollups of {target} in those days: run yunguan usage rollup first",
    ),
    "usage_to_without_from": ("--to 需要同时给出 --from", "--to needs --from"),
    "usage_which_cloud": (
        "{target} 在多个云平台上（{clouds}）：用 --cloud 指定一个",
        "{target} is on several clouds ({clouds}): choose one with --cloud",
    ),
    "usage_rolled": (
        "已汇总：{hours} 个小时（{hourly} 行），{days} 天（北京时间，{daily} 行）",
        "rolled up: hours {hours} ({hourly} rows), days (UTC+8) {days} ({daily} rows)",
    ),
    "usage_retention": (
        "已删除超过保留期的 {samples} 个样本、{hourly} 行小时汇总、{daily} 行日汇总、{sweeps} 次采集记录",
        "removed past their retention: {samples} samples, {hourly} hourly rows, {daily} daily rows, {sweeps} sweeps",
    ),
    "no_clouds": (
        "没有要对账的云平台：在配置的 clouds: 中声明",
        "no clouds to reconcile: declare them under clouds: in the config",
    ),
    "unknown_cloud": ("未配置的云平台：{name}", "cloud not in the config: {name}"),
    "kind.standard": ("标准", "standard"),
    "kind.temporary": ("临时", "temporary"),
    "kind.emergency": ("应急", "emergency"),
    # regulation packs (yunguan policy)
    "policy_no_pack": (
        "没有选定规则包：在配置中设置 policy.pack，或在命令中指定规则包",
        "no pack selected: set policy.pack in the config, or name a pack on the command line",
    ),
    "policy_rejected": ("规则包或用例文件 {source} 无效，未做任何评估：", "{source} is not valid, nothing evaluated:"),
    "policy_valid": (
        "规则包 {pack} 有效：{rules} 条规则，其中 {enabled} 条启用且可判定",
        "pack {pack} is valid: {rules} rules, {enabled} enabled that can break",
    ),
    "policy_test_title": ("{pack} 规则包用例（{file}）", "pack {pack} against {file}"),
    "policy_test_summary": ("{passed} 项通过，{failed} 项失败", "{passed} passed, {failed} failed"),
    "policy_evaluate_title": (
        "{month} 按 {pack} 规则包的评估结果（试运行，未写入）",
        "{month} evaluated under pack {pack} (dry: nothing written)",
    ),
    "policy_evaluate_summary": (
        "问题 {findings} 项，正常 {clear} 项，数据不足无法判定 {unknown} 项",
        "{findings} finding(s), {clear} clear, {unknown} unknown (too little data)",
    ),
    "policy_skipped": ("未评估 {system}（{rule}）：{why}", "not evaluated: {system} ({rule}): {why}"),
    "policy_month_not_over": ("无法评估 {month}：{why}", "cannot evaluate {month}: {why}"),
    "policy.pass": ("通过", "pass"),
    "policy.fail": ("失败", "FAIL"),
    "policy.system": ("应用系统", "system"),
    "policy.cloud": ("云平台", "cloud"),
    "policy.scope": ("对象", "scope"),
    "policy.rule": ("规则", "rule"),
    "policy.citation": ("依据", "article"),
    "policy.period": ("监测期", "period"),
    "policy.outcome": ("处置", "outcome"),
    "policy.verdict": ("结论", "verdict"),
    "policy.reason": ("依据数据", "evidence"),
    "policy.verdict.finding": ("存在问题", "FINDING"),
    "policy.verdict.clear": ("正常", "clear"),
    "policy.verdict.unknown": ("数据不足", "unknown"),
    "policy.outcome.downsize": ("核减", "downsize"),
    "policy.outcome.reclaim": ("回收", "reclaim"),
    "policy.outcome.freeze": ("暂停冻结", "freeze"),
    "policy.outcome.expand-eligible": ("可申请扩容", "may expand"),
    # vendor-reported utilization (usage import-reported / compare)
    "reported_created": ("新增报送值", "figures added"),
    "reported_changed": ("更新报送值（已记录原值与新值）", "figures changed (before and after logged)"),
    "reported_unchanged": ("未变化的报送值", "figures unchanged"),
    "bad_month": ("不是月份：{value}（写作 2026-10）", "not a month: {value} (write 2026-10)"),
    "compare_none": (
        "{month} 没有服务商报送的利用率：先运行 yunguan usage import-reported",
        "no vendor-reported figures for {month}: run yunguan usage import-reported first",
    ),
    "compare_title": (
        "{month} 服务商报送与实测利用率对比（相差超过 {margin} 个百分点即标记）",
        "{month}: vendor-reported against measured utilization (flagged beyond {margin} points)",
    ),
    "compare_flagged": (
        "{n} 项报送值与实测相差超过 {margin} 个百分点",
        "{n} reported figure(s) differ from the measured by more than {margin} points",
    ),
    "compare.system": ("应用系统", "system"),
    "compare.cloud": ("云平台", "cloud"),
    "compare.server": ("云主机ID", "server"),
    "compare.metric": ("指标", "metric"),
    "compare.vendor": ("报送单位", "vendor"),
    "compare.reported": ("报送（%）", "reported %"),
    "compare.measured": ("实测（%）", "measured %"),
    "compare.difference": ("差值（百分点）", "difference (points)"),
    "compare.samples": ("样本数", "samples"),
    "compare.days": ("有样本天数", "days with samples"),
    "compare.quality": ("数据质量", "quality"),
    "compare.verdict": ("结论", "verdict"),
    "compare.why": ("说明", "note"),
    "reported.cpu_mean": ("CPU平均利用率", "CPU mean"),
    "reported.memory_mean": ("内存平均利用率", "memory mean"),
    "reported.storage": ("存储利用率", "storage"),
    "reported.cpu_peak": ("CPU峰值利用率", "CPU peak"),
    "reported.memory_peak": ("内存峰值利用率", "memory peak"),
    "verdict.agrees": ("一致", "agrees"),
    "verdict.differs": ("不符", "DIFFERS"),
    "verdict.unknown": ("未知", "unknown"),
    "quality.measured": ("实测", "measured"),
    "quality.estimated": ("含估算 {k}/{n}", "estimated {k}/{n}"),
    "quality.none": ("无样本", "no samples"),
    "why.no-footprint": ("该系统在此云平台上没有可测量的云项目", "the system has no project on this cloud to measure"),
    "why.no-samples": ("当月没有样本", "no samples in the month"),
    "why.estimates": (
        "{n} 个样本中有 {k} 个是估算值，估算不能代替实测",
        "{k} of {n} samples are estimates; an estimate never stands in for a measurement",
    ),
    "why.coverage": ("仅 {days}/{of} 天有样本", "samples on only {days} of {of} days"),
    "why.unweighted": (
        "{servers} 台云主机缺少容量数据，无法加权",
        "{servers} server(s) without a capacity figure to weigh by",
    ),
    # findings and notices (controlplane.policy.findings, transitions, notices; yunguan findings / notices)
    "state.open": ("待处理", "open"),
    "state.reminded": ("已提醒", "reminded"),
    "state.urged": ("已督促", "urged"),
    "state.enforceable": ("可直接处置", "enforceable"),
    "state.enforced": ("已处置", "enforced"),
    "state.resolved": ("已消除", "resolved"),
    "state.exempted": ("已豁免", "exempted"),
    "state.disputed": ("有异议", "disputed"),
    "transition.open": ("发现", "opened"),
    "transition.reopen": ("重新发现", "reopened"),
    "transition.refresh": ("更新证据", "evidence refreshed"),
    "transition.remind": ("提醒", "reminded"),
    "transition.urge": ("督促", "urged"),
    "transition.make-enforceable": ("转为可直接处置", "made enforceable"),
    "transition.expire-exemption": ("豁免到期", "exemption expired"),
    "transition.exempt": ("豁免", "exempt"),
    "transition.dispute": ("登记异议", "dispute"),
    "transition.reject-dispute": ("驳回异议", "reject the dispute of"),
    "transition.resolve": ("消除", "resolve"),
    "transition.mark-enforced": ("标记为已处置", "mark as enforced"),
    "findings.id": ("编号", "id"),
    "findings.state": ("状态", "state"),
    "findings.system": ("应用系统", "system"),
    "findings.cloud": ("云平台", "cloud"),
    "findings.scope": ("对象", "scope"),
    "findings.rule": ("规则", "rule"),
    "findings.citation": ("依据", "article"),
    "findings.outcome": ("处置", "outcome"),
    "findings.period": ("监测期", "period"),
    "findings.evidence": ("证据", "evidence"),
    "findings.deadline": ("整改期限", "deadline"),
    "findings.opened": ("发现时间", "opened"),
    "findings.state_since": ("进入当前状态", "state since"),
    "findings.cycle": ("轮次", "cycle"),
    "findings.exempt_until": ("豁免至", "exempt until"),
    "findings.exempt_reason": ("豁免理由", "exemption reason"),
    "findings.exempt_by": ("批准豁免", "exempted by"),
    "findings.dispute_reason": ("异议理由", "dispute reason"),
    "findings.paused_state": ("中断前状态", "interrupted state"),
    "findings.action_ref": ("处置操作", "action"),
    "findings.key": ("标识", "key"),
    "findings_title": ("问题清单（{n} 项）", "Findings ({n})"),
    "findings_none": ("没有符合条件的问题", "no findings match"),
    "finding_title": ("问题 {id}：{finding}", "Finding {id}: {finding}"),
    "finding_history_title": ("问题 {id} 的处理过程", "History of finding {id}"),
    "history.time": ("时间", "time"),
    "history.actor": ("操作人", "actor"),
    "history.transition": ("变化", "transition"),
    "history.from": ("原状态", "from"),
    "history.to": ("新状态", "to"),
    "history.detail": ("说明", "detail"),
    "finding_not_found": ("没有编号为 {id} 的问题", "no finding {id}"),
    "finding_refused": (
        "问题 {id} 当前为「{state}」，不能{transition}（仅限：{allowed}）",
        "finding {id} is {state}: cannot {transition} it (only from: {allowed})",
    ),
    "finding_until_past": ("豁免截止日 {until} 已经过去", "the exemption's last day {until} is already past"),
    "finding_reason_required": ("需要说明理由", "a reason is required"),
    "finding_changed": ("问题 {id}：{before} → {after}", "finding {id}: {before} → {after}"),
    "tick_moved": ("问题推进：{summary}", "findings moved: {summary}"),
    "tick_still": ("没有到期的问题", "no finding was due"),
    "tick_problem": ("未能推进：{why}", "could not move: {why}"),
    "tick_notices": (
        "通知：送达 {delivered}，失败待重试 {failed}，放弃 {abandoned}，未配置通知渠道 {undeliverable}",
        (
            "notices: {delivered} delivered, {failed} failed (retried next tick), {abandoned} abandoned, "
            "{undeliverable} with no channel configured"
        ),
    ),
    "tick_notice_failed": (
        "通知 {id} 经 {channel} 发往 {recipient} 失败：{why}",
        "notice {id} via {channel} to {recipient} failed: {why}",
    ),
    "notices.id": ("编号", "id"),
    "notices.finding": ("问题", "finding"),
    "notices.kind": ("类型", "kind"),
    "notices.system": ("应用系统", "system"),
    "notices.unit": ("使用单位", "unit"),
    "notices.created": ("生成时间", "created"),
    "notices.deadline": ("期限", "deadline"),
    "notices.status": ("状态", "status"),
    "notices.deliveries": ("投递", "deliveries"),
    "notices_title": ("通知（{n} 条）", "Notices ({n})"),
    "notices_none": ("没有通知", "no notices"),
    "notice_kind.reminded": ("提醒", "reminder"),
    "notice_kind.urged": ("督促", "urging"),
    "notice_kind.enforceable": ("可直接处置", "enforceable"),
    "notice_kind.maintenance": ("维护", "maintenance"),
    "notice_status.pending": ("待发送", "pending"),
    "notice_status.delivered": ("已送达", "delivered"),
    "notice_status.failed": ("失败待重试", "failed, retrying"),
    "notice_status.abandoned": ("已放弃", "abandoned"),
    # the notices themselves (controlplane.policy.notices.text)
    "notice.subject.reminded": (
        "【提醒】{unit}「{system}」{outcome}提醒（{citation}）",
        "[Reminder] {unit} / {system}: {outcome} ({citation})",
    ),
    "notice.subject.urged": (
        "【督促】{unit}「{system}」{outcome}督促（{citation}）",
        "[Urging] {unit} / {system}: {outcome} ({citation})",
    ),
    "notice.subject.enforceable": (
        "【将直接处置】{unit}「{system}」{outcome}（{citation}）",
        "[Enforceable] {unit} / {system}: {outcome} ({citation})",
    ),
    "notice.subject.maintenance": (
        "【维护通知】{unit}「{system}」将于 {day} 中断",
        "[Maintenance] {unit} / {system}: interruption on {day}",
    ),
    "notice.greeting": ("{unit}：", "To {unit}:"),
    "notice.finding": (
        (
            "贵单位的应用系统「{system}」（{code}，{cloud}，{scope}）在 {period} 的监测中"
            "不符合{citation}（规则 {rule}），依据："
        ),
        (
            "Your application system {system} ({code}, {cloud}, {scope}) does not meet {citation} (rule {rule}) in "
            "{period}, on this evidence:"
        ),
    ),
    "notice.evidence": (
        "{metric}{aggregate} {value}（条件 {op} {threshold}；{first} 至 {last}，{samples} 个样本）",
        "{metric} {aggregate} {value} {op} {threshold} ({first} to {last}, {samples} samples)",
    ),
    "notice.next.reminded": (
        "请在 {deadline}（含）前自行{outcome}；逾期仍未整改的，管理部门将予以督促（{step}）。",
        (
            "Please {outcome} yourselves by {deadline} (inclusive); if it is not done by then, the management "
            "department will urge you ({step})."
        ),
    ),
    "notice.next.reminded.none": ("请自行{outcome}（{step}）。", "Please {outcome} yourselves ({step})."),
    "notice.next.reminded.enforceable": (
        "请在 {deadline}（含）前自行{outcome}；逾期仍未整改的，管理部门可以直接{outcome}（{step}）。",
        (
            "Please {outcome} yourselves by {deadline} (inclusive); after that the management department may "
            "{outcome} directly ({step})."
        ),
    ),
    "notice.next.urged": (
        (
            "经提醒仍未整改，现予督促：请在 {deadline}（含）前{outcome}；"
            "逾期仍未整改的，管理部门可以直接{outcome}（{step}）。"
        ),
        (
            "It was not done after the reminder: you are hereby urged to {outcome} by {deadline} (inclusive); after "
            "that the management department may {outcome} directly ({step})."
        ),
    ),
    "notice.next.urged.none": (
        "经提醒仍未整改，现予督促，请尽快{outcome}（{step}）。",
        "It was not done after the reminder: you are hereby urged to {outcome} ({step}).",
    ),
    "notice.next.enforceable": (
        (
            "经督促仍未整改，管理部门现可直接{outcome}（{step}）；"
            "会中断系统的操作将至少提前2个工作日另行通知（酒泉第13条）。"
        ),
        (
            "It was not done after the urging: the management department may now {outcome} directly ({step}); an "
            "action that interrupts the system will be announced at least 2 working days ahead (Jiuquan art. 13)."
        ),
    ),
    "notice.next.maintenance": (
        "管理部门将于 {day}（北京时间）{action}，系统届时可能中断，特此至少提前2个工作日通知（酒泉第13条）。",
        (
            "On {day} (UTC+8) the management department will {action}; the system may be interrupted then. This is "
            "announced at least 2 working days ahead (Jiuquan art. 13)."
        ),
    ),
    "notice.next.expand": (
        "该系统达到扩容条件，可按程序申请扩容（{citation}）。",
        "The system qualifies for expansion: you may apply for more resources ({citation}).",
    ),
    "notice.footer": (
        "事项编号 {id}（{finding}）。如有异议，请向管理部门提出。",
        "Finding {id} ({finding}). To dispute it, contact the management department.",
    ),
    "notice.all_clouds": ("全部云平台", "all clouds"),
    "notice.scope.system": ("整个系统", "whole system"),
    "notice.scope.server": ("云主机", "server"),
    "notice.scope.namespace": ("命名空间", "namespace"),
    "notice.outcome.downsize": ("核减资源配置", "reduce the allocation"),
    "notice.outcome.reclaim": ("回收资源", "reclaim the resources"),
    "notice.outcome.freeze": ("暂停冻结资源", "freeze the resources"),
    "notice.outcome.expand-eligible": ("扩容", "expansion"),
    "notice.metric.cpu_percent": ("CPU利用率", "CPU use"),
    "notice.metric.memory_percent": ("内存利用率", "memory use"),
    "notice.metric.disk_percent": ("存储利用率", "storage use"),
    "notice.metric.disk_free_bytes": ("存储剩余", "free storage"),
    "notice.metric.stopped_days": ("停机天数", "days stopped"),
    "notice.aggregate.mean": ("平均", "mean"),
    "notice.aggregate.max": ("峰值", "peak"),
    "notice.aggregate.hours_above": ("超阈值小时数", "hours above"),
    "notice.aggregate.latest": ("最新", "latest"),
    "notice.aggregate.days": ("天数", "days"),
    # hosted equipment (controlplane.hosting; yunguan equipment)
    "equipment.id": ("编号", "id"),
    "equipment.vendor": ("托管服务商", "vendor"),
    "equipment.serial": ("序列号", "serial"),
    "equipment.asset_tag": ("资产编号", "asset tag"),
    "equipment.kind": ("设备类型", "kind"),
    "equipment.model": ("型号", "model"),
    "equipment.unit": ("使用单位", "unit"),
    "equipment.system": ("应用系统", "system"),
    "equipment.position": ("机位", "position"),
    "equipment.power_w": ("功率（W）", "power W"),
    "equipment.ports": ("网口", "ports"),
    "equipment.bandwidth_mbps": ("带宽（Mbps）", "bandwidth Mbps"),
    "equipment.hosted_since": ("托管日期", "hosted since"),
    "equipment.state": ("状态", "state"),
    "equipment.retired_on": ("退出日期", "retired on"),
    "equipment.retire_reason": ("退出原因", "retired because"),
    "equipment.sanitization_pending": ("待交消磁证明", "degauss certificate due"),
    "equipment.registered_by": ("登记人", "registered by"),
    "equipment.registered_at": ("登记时间", "registered at"),
    "evidence.kind": ("类别", "kind"),
    "evidence.name": ("文件名", "name"),
    "evidence.size": ("字节", "bytes"),
    "evidence.media_type": ("类型", "media type"),
    "evidence.sha256": ("SHA-256", "SHA-256"),
    "evidence.uploaded_by": ("上传人", "uploaded by"),
    "evidence.uploaded_at": ("上传时间", "uploaded at"),
    "equipment_title": ("托管设备（{n} 台）", "Hosted equipment ({n})"),
    "equipment_one": ("托管设备 {id}", "Equipment {id}"),
    "evidence_title": ("证明材料", "Evidence files"),
    "equipment_none": ("没有符合条件的托管设备", "no equipment matches"),
    "equipment_not_found": ("没有编号为 {id} 的托管设备", "no equipment {id}"),
    "equipment_registered": ("已从 {source} 登记 {n} 台设备", "registered {n} piece(s) of equipment from {source}"),
    "equipment_dry": (
        "试运行：{source} 中 {n} 台设备校验通过，未写入任何内容",
        "dry run: {n} piece(s) of equipment in {source} are valid, nothing written",
    ),
    "equipment_retired": (
        "设备 {id}（{serial}）已于 {on} 退出托管：{reason}",
        "equipment {id} ({serial}) retired on {on}: {reason}",
    ),
    "equipment_refused": ("设备 {id}：{why}", "equipment {id}: {why}"),
    "equipment_sanitization": (
        "报废的服务器和存储设备须先消磁或销毁（重庆第39条）：请上传消磁或销毁证明",
        "disposed servers and storage must be degaussed or destroyed first (Chongqing 39): upload the certificate",
    ),
    # termination (yunguan terminate, yunguan wipe)
    "terminate_refused": ("已拒绝：{why}", "refused: {why}"),
    "terminate_bad_input": ("输入有误（{field}）：{why}", "invalid input ({field}): {why}"),
    "terminate_incomplete": (
        "未能完整列出系统资源，拒绝生成清除计划：{why}",
        "the footprint could not be listed completely, so nothing is planned: {why}",
    ),
    "terminate_requested": ("已登记终止申请 {case}：{system}", "termination case {case} requested for {system}"),
    "terminate_late": (
        "逾期申请：超过政策包规定的期限才提交终止申请，须通报审计部门和财政部门",
        "late request: made after the pack's deadline from the day use stopped; report to audit and finance",
    ),
    "terminate_approved": ("{system} 终止申请已批准，过渡期至 {until}", "{system}: approved, transition until {until}"),
    "terminate_moved": ("{system}：{state}", "{system}: {state}"),
    "terminate_backup": (
        "{system} 迁移备份已确认，证明 SHA-256 {sha256}",
        "{system}: backup confirmed, evidence {sha256}",
    ),
    "terminate_wipe_approved": ("{system} 数据清除已由 {by} 复核批准", "{system}: wipe approved by {by}"),
    "terminate.col.case": ("案件", "case"),
    "terminate.col.system": ("系统", "system"),
    "terminate.col.unit": ("使用单位", "unit"),
    "terminate.col.state": ("状态", "state"),
    "terminate.col.late": ("逾期申请", "late"),
    "terminate.col.transition_ends": ("过渡期截止", "transition_ends"),
    "terminate.col.days_left": ("剩余天数", "days_left"),
    "terminate.col.approved_by": ("审批人", "approved_by"),
    "terminate.col.wipe_approved_by": ("清除复核人", "wipe_approved_by"),
    "terminate.col.billing_end": ("计费截止", "billing_end"),
    "terminate.col.leftovers": ("残留", "leftovers"),
    "terminate.col.step": ("步骤", "step"),
    "terminate.col.cloud": ("云平台", "cloud"),
    "terminate.col.kind": ("类型", "kind"),
    "terminate.col.id": ("编号", "id"),
    "terminate.col.name": ("名称", "name"),
    "terminate.col.group": ("项目/命名空间", "group"),
    "terminate.col.size_bytes": ("容量（字节）", "size_bytes"),
    "terminate.col.method": ("方法", "method"),
    "terminate.col.category": ("清除级别", "category"),
    "terminate.col.verified": ("已回读验证", "verified"),
    "terminate.col.samples": ("验证样本", "samples"),
    "terminate.col.intent_seq": ("意图日志序号", "intent_seq"),
    "terminate.col.result_seq": ("结果日志序号", "result_seq"),
    "terminate.col.error": ("错误", "error"),
    "terminate_plan_title": ("{system} 清除与回收计划", "Wipe and reclaim plan of {system}"),
    "terminate_not_yet": ("尚不能执行：{why}", "may not run yet: {why}"),
    "terminate_would": ("将清除：{target}", "would wipe: {target}"),
    "terminate_done": ("已清除：{target}", "wiped: {target}"),
    "terminate_resumed": (
        "中断后续做：{target} 已不存在，已记录，未重复操作",
        "resumed: {target} already gone, recorded",
    ),
    "terminate_waiting": ("等待：{target}：{why}", "waiting: {target}: {why}"),
    "terminate_failed": ("失败：{target}：{why}", "failed: {target}: {why}"),
    "terminate_leftover": ("最终核对仍有残留：{what}", "left after the final reconcile: {what}"),
    "terminate_case_title": ("服务终止", "Termination case"),
    "terminate_steps_title": ("清除步骤", "Wipe steps"),
    "terminate_cases_title": ("服务终止列表", "Termination cases"),
    "terminate_equipment": (
        "设备 {serial} 的{how}证明已确认，设备已退出托管",
        "equipment {serial}: {how} confirmed, retired",
    ),
    "terminate_reminder": (
        "提醒 {unit}：{system} 过渡期至 {until}（还剩 {days} 天内）",
        "remind {unit}: the transition of {system} ends {until} (within {days} days)",
    ),
    "terminate_certificate": (
        "已写出清除证明 {path}（{n} 项资源）",
        "wrote the wipe certificate {path} ({n} resources)",
    ),
    "wipe_invalid": ("证明无效：{why}", "invalid: {why}"),
    "wipe_valid": ("证明有效：{path}", "valid: {path}"),
}


def default_lang() -> Lang:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def t(lang: Lang, key: str, **values: object) -> str:
    zh, en = MESSAGES[key]
    return (zh if lang == "zh" else en).format(**values)
