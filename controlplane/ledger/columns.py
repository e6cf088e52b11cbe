"""The columns of the forms units fill in (资源申请表 / 变更注销申请单), with Chinese and English headers and the
words people write in them. Headers match ignoring case, spaces, underscores and brackets of either width."""

from __future__ import annotations

import re
from dataclasses import dataclass

from controlplane.domain import AllocationKind, Mode, SystemStatus, Zone


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    en: str
    zh: str
    required: bool = False
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("unit", "unit", "使用单位", True, ("单位", "单位名称", "department")),
    Column("parent_unit", "parent unit", "上级单位", False, ("主管单位", "parent department")),
    Column("system", "system", "应用系统", True, ("系统名称", "应用系统名称", "system name")),
    Column("system_code", "system code", "系统编号", False, ("系统代码", "system id")),
    Column("mlps_level", "MLPS level", "等保级别", True, ("等级保护级别", "等保等级", "mlps")),
    Column("zone", "zone", "网络区域", True, ("部署区域", "所属网络")),
    Column("mode", "mode", "服务模式", True, ("服务类型", "使用模式")),
    Column("cloud", "cloud", "云平台", True, ("云平台名称", "platform")),
    Column("vcpu", "vCPU", "vCPU（核）", False, ("vcpu核", "cpu", "cpu核", "cpu（核）", "vcpu cores")),
    Column("memory_gib", "memory GiB", "内存（GiB）", False, ("内存gb", "内存", "memory gb", "memory")),
    Column("storage_gib", "storage GiB", "存储（GiB）", False, ("存储gb", "存储", "storage gb", "storage")),
    Column("instances", "instances", "云主机数量", False, ("实例数", "虚拟机数量", "instance count")),
    Column("rack_units", "rack units", "机柜U数", False, ("u数", "机位u数", "rack u")),
    Column("power_w", "power W", "功率（W）", False, ("功率", "额定功率w", "power")),
    Column("bandwidth_mbps", "bandwidth Mbps", "带宽（Mbps）", False, ("带宽", "bandwidth")),
    Column("devices", "devices", "设备数量", False, ("设备数", "device count")),
    Column("approval_ref", "approval number", "审批文号", True, ("批复文号", "审批编号", "approval ref")),
    Column("approval_date", "approval date", "审批日期", True, ("批复日期",)),
    Column("effective_from", "effective from", "生效日期", False, ("开始日期", "起始日期")),
    Column("effective_to", "effective to", "有效期至", False, ("截止日期", "到期日期", "结束日期")),
    Column("kind", "kind", "申请类型", True, ("类型", "资源类型")),
    Column("stable_since", "stable since", "稳定运行日期", False, ("上线日期",)),
    Column("status", "status", "状态", False, ("系统状态",)),
    Column("projects", "OpenStack projects", "云项目", False, ("项目", "projects")),
    Column("namespaces", "namespaces", "命名空间", False, ()),
    Column("equipment", "equipment serials", "设备序列号", False, ("序列号",)),
)
_FOLD = re.compile(r"[\s_\-()（）\[\]【】]+")


def fold(header: str) -> str:
    return _FOLD.sub("", header).casefold()


class Form:
    """One form's columns: which header (either language, or a word people use) means which column, and how a
    column is named in an error. The ledger form is one; the vendors' utilization report is another."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.by_key = {c.key: c for c in columns}
        self.header_to_key = {fold(h): c.key for c in columns for h in (c.key, c.en, c.zh, *c.aliases)}

    def label(self, key: str) -> str:
        """Both languages, so the unit finds the column on either form."""
        c = self.by_key[key]
        return f"{c.zh} / {c.en}"


LEDGER_FORM = Form(COLUMNS)
BY_KEY = LEDGER_FORM.by_key
HEADER_TO_KEY = LEDGER_FORM.header_to_key
label = LEDGER_FORM.label


def _words(enum_words: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {fold(w): value for value, words in enum_words.items() for w in (value, *words)}


ZONE_WORDS = _words(
    {
        Zone.INTERNET: ("互联网", "互联网区", "互联网区域"),
        Zone.EXTRANET: ("政务外网", "电子政务外网", "电子政务外网区", "外网区"),
    }
)
MODE_WORDS = _words(
    {
        Mode.SHARED: ("共享云", "普通云", "共享"),
        Mode.DEDICATED: ("专享云", "专享", "专有云"),
        Mode.HOSTING: ("托管",),
        Mode.BARE_METAL: ("裸金属", "baremetal", "bare metal"),
    }
)
KIND_WORDS = _words(
    {
        AllocationKind.STANDARD: ("标准", "正式", "常规", "新申请", "变更"),
        AllocationKind.TEMPORARY: ("临时", "临时扩容"),
        AllocationKind.EMERGENCY: ("应急",),
    }
)
STATUS_WORDS = _words(
    {
        SystemStatus.ACTIVE: ("在用", "运行", "运行中", ""),
        SystemStatus.TERMINATING: ("注销中", "迁移中"),
        SystemStatus.TERMINATED: ("注销", "已注销", "终止"),
    }
)
