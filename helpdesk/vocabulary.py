"""The words of the desk, defined once: ticket types, statuses, their groups and Chinese labels, and
the labels of the letter fields.

A leaf: it imports no other helpdesk package, so letters, sla, records and tickets (and, through the
views, every template) all use these names and this wording.
"""

from __future__ import annotations

from enum import StrEnum


class TicketType(StrEnum):
    CHANGE = "change"
    UNBIND = "unbind"
    CANCEL = "cancel"
    RECOVERY = "recovery"
    INQUIRY = "inquiry"

    @property
    def label(self) -> str:
        return TYPE_LABELS[self.value]


TYPE_LABELS = {
    "change": "变更",
    "unbind": "解绑",
    "cancel": "注销",
    # 找回账号, not 找回账号/密码: the desk tells an enterprise its account name, never a password
    "recovery": "找回账号",
    "inquiry": "咨询",
}


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    MERGED = "merged"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.value]

    @property
    def is_closed(self) -> bool:
        return self.value in CLOSED_STATUSES


STATUS_LABELS = {
    "new": "待处理",
    "open": "处理中",
    "waiting": "待企业补充",
    "resolved": "已办结",
    "rejected": "已驳回",
    "merged": "已合并",
}
#: the SLA clock runs (waiting pauses it; the closed statuses stop it)
RUNNING_STATUSES = ("new", "open")
#: not yet closed: the agent still owes the enterprise something
OPEN_STATUSES = ("new", "open", "waiting")
CLOSED_STATUSES = ("resolved", "rejected", "merged")
#: closed by an answer to the enterprise (merged is closed by another ticket); a reply reopens them
ANSWERED_STATUSES = ("resolved", "rejected")

#: the fields read from a letter (helpdesk.letters) and corrected by the agent, in display order
FIELD_LABELS = {
    "company_name": "公司名称",
    "account_names": "账号信息",
    "account_count": "账号个数",
    "target_accounts": "要解绑/注销的账号",
    "reason": "事由",
    "modification": "具体修改内容",
    "old_value": "原值",
    "new_value": "新值",
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "letter_date": "落款日期",
    "contact": "联系人",
    "has_licence": "营业执照扫描件",
    "seal": "公章",
}
