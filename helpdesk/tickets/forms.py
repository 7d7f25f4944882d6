"""Forms of the agent workspace. Every form that changes a ticket carries its `version` (optimistic locking)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from helpdesk.params import parse_int
from helpdesk.tickets.macros import MACRO_ACTIONS
from helpdesk.vocabulary import STATUS_LABELS, TYPE_LABELS

#: statuses an agent may set by hand (merged has its own action; rejected mails a reason)
MANUAL_STATUSES = ("open", "waiting", "resolved")
BULK_STATUSES = ("open", "waiting", "resolved", "rejected")

LIST_FIELDS = {"account_names", "target_accounts", "uscc", "org_code"}
SEAL_CHOICES = {"unknown": "无法判断", "seal": "有公章", "none": "未见公章"}
#: an unbind and a cancel letter name the same things: the accounts, the one to act on, the licence
ACCOUNT_LETTER_FIELDS = (
    "company_name",
    "account_count",
    "account_names",
    "target_accounts",
    "reason",
    "uscc",
    "org_code",
    "letter_date",
    "seal",
    "has_licence",
    "contact",
)
#: the fields shown for each ticket type (others appear when the letter or the agent filled them)
FIELDS_BY_TYPE = {
    "change": (
        "company_name",
        "account_names",
        "reason",
        "modification",
        "old_value",
        "new_value",
        "uscc",
        "org_code",
        "letter_date",
        "seal",
        "contact",
    ),
    "unbind": ACCOUNT_LETTER_FIELDS,
    "cancel": ACCOUNT_LETTER_FIELDS,
    "recovery": ("company_name", "uscc", "org_code", "account_names", "contact"),
    "inquiry": ("company_name", "uscc", "org_code", "account_names", "contact"),
}


class VersionedForm(FlaskForm):
    version = HiddenField(validators=[InputRequired()])

    def expected_version(self) -> int | None:
        return parse_int(self.version.data)


class ReplyForm(VersionedForm):
    body = TextAreaField("回复内容", validators=[DataRequired("回复内容不能为空。"), Length(max=20000)])
    macro = SelectField("回复模板", choices=[], validate_choice=False)


class NoteForm(VersionedForm):
    body = TextAreaField("内部备注", validators=[DataRequired("备注内容不能为空。"), Length(max=20000)])


class StatusForm(VersionedForm):
    status = SelectField("状态", choices=[(s, STATUS_LABELS[s]) for s in MANUAL_STATUSES])
    reason = StringField("原因", validators=[Optional(), Length(max=500)])


class RejectForm(VersionedForm):
    reason = TextAreaField(
        "驳回原因（会发给企业）", validators=[DataRequired("请填写驳回原因。"), Length(max=4000)]
    )


class MergeForm(VersionedForm):
    target = StringField("合并到工单号", validators=[DataRequired("请填写目标工单号。"), Length(max=20)])


class TypeForm(VersionedForm):
    type = SelectField("类型", choices=list(TYPE_LABELS.items()))


class AssignForm(VersionedForm):
    assignee = SelectField("处理人", choices=[], validate_choice=False)


class BulkForm(FlaskForm):
    action = SelectField("批量操作", choices=[("assign", "分配给"), ("status", "状态改为")])
    assignee = SelectField("处理人", choices=[], validate_choice=False)
    status = SelectField("状态", choices=[(s, STATUS_LABELS[s]) for s in BULK_STATUSES])
    back = HiddenField()


class SavedFilterForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired("请给筛选条件起个名字。"), Length(max=100)])
    query = HiddenField()


class MacroForm(FlaskForm):
    key = StringField("标识（英文）", validators=[DataRequired("请填写标识。"), Length(max=80)])
    title = StringField("标题", validators=[DataRequired("请填写标题。"), Length(max=200)])
    category = StringField("分类", validators=[Optional(), Length(max=40)])
    action = SelectField("动作", choices=list(MACRO_ACTIONS.items()))
    body = TextAreaField("正文", validators=[DataRequired("请填写正文。"), Length(max=20000)])


def parse_field(name: str, raw: str) -> Any:
    """A field value typed by the agent, converted to the type the letter uses for that field."""
    import re

    text = (raw or "").strip()
    if name in LIST_FIELDS:
        parts = [p.strip() for p in re.split(r"[,，、;；\s]+", text) if p.strip()]
        if name in ("uscc", "org_code"):
            parts = [p.upper() for p in parts]
        return parts
    if name == "account_count":
        digits = re.sub(r"\D", "", text)
        return int(digits) if digits else None
    if name == "has_licence":
        return text in ("1", "true", "yes", "on", "是")
    if name == "seal":
        return text if text in SEAL_CHOICES else "unknown"
    return text


def format_field(value: Any) -> str:
    """A stored field value as the text of its input."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


class ByHandForm(FlaskForm):
    """A ticket for a phone call or a visit (tickets/by_hand.py)."""

    channel = RadioField("来源", choices=[("phone", "电话"), ("visit", "来访")], default="phone")
    type = SelectField("类型", choices=list(TYPE_LABELS.items()), default="inquiry")
    enterprise = StringField(
        "企业（统一社会信用代码、平台账号或企业全称）",
        validators=[DataRequired("请填写企业。"), Length(max=200)],
    )
    contact = StringField("联系人和电话", validators=[Optional(), Length(max=200)])
    email = StringField("企业邮箱（用于受理确认和回复，可不填）", validators=[Optional(), Length(max=254)])
    note = TextAreaField("来电内容", validators=[DataRequired("请填写来电内容。"), Length(max=20000)])
    acknowledge = BooleanField("发送受理确认邮件")
    client_key = HiddenField()
