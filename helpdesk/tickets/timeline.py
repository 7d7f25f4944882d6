"""The ticket's timeline in words: every event kind the code records, said in Chinese for the agent.

No internal code (an event kind, a field name, an action) reaches the page; tests/tickets/
test_timeline_wording.py walks every kind the code records.
"""

from __future__ import annotations

from helpdesk.auth.models import User
from helpdesk.params import parse_id
from helpdesk.sla.wording import working_time
from helpdesk.tickets.models import TicketEvent
from helpdesk.vocabulary import FIELD_LABELS, STATUS_LABELS, TYPE_LABELS


def _minutes(value: object) -> str:
    return "—" if value is None else working_time(int(value))  # type: ignore[call-overload]


def describe_event(event: TicketEvent, users: dict[int, User]) -> str:
    """One line of the timeline, in Chinese: who did what, from what to what."""

    def who(value: str | None) -> str:
        user_id = parse_id(value)
        if user_id in users:
            return users[user_id].name
        return value or "（未分配）"

    detail = event.detail or {}
    kind = event.kind
    if kind == "created":
        text = f"创建工单（类型：{TYPE_LABELS.get(event.new_value or '', event.new_value)}）"
        if detail.get("channel") in ("phone", "visit"):
            text += "，" + ("电话登记" if detail["channel"] == "phone" else "来访登记")
        return text + ("，邮件无法解析，原始邮件已附上" if detail.get("fallback") else "")
    if kind == "status":
        text = (
            f"状态：{STATUS_LABELS.get(event.old_value or '', event.old_value)} → "
            f"{STATUS_LABELS.get(event.new_value or '', event.new_value)}"
        )
        return text + (f"（{detail['reason']}）" if detail.get("reason") else "")
    if kind == "assigned":
        how = (
            "领取"
            if detail.get("claimed")
            else "下一个"
            if detail.get("next")
            else "批量分配"
            if detail.get("bulk")
            else ""
        )
        return f"处理人：{who(event.old_value)} → {who(event.new_value)}" + (f"（{how}）" if how else "")
    if kind == "field":
        label = FIELD_LABELS.get(event.field or "", event.field)
        return f"修改字段“{label}”：{event.old_value or '（空）'} → {event.new_value or '（空）'}"
    if kind == "type":
        return (
            f"类型：{TYPE_LABELS.get(event.old_value or '', event.old_value)} → "
            f"{TYPE_LABELS.get(event.new_value or '', event.new_value)}"
        )
    if kind == "reply":
        what = "发送补充材料通知（等待企业补充）" if detail.get("request_material") else "发送回复邮件"
        files = detail.get("attachments") or []
        return what + (f"，附件：{'、'.join(map(str, files))}" if files else "")
    simple = {
        "note": "添加内部备注",
        "mail_in": "收到邮件",
        "ocr_done": "文字识别完成",
        "auto_reply_suppressed": "未发送自动确认：" + "；".join(map(str, detail.get("reasons", []))),
        "related": f"关联工单 ZXZJ#{event.new_value}（发件人不属于被引用的工单）",
        "message_id_reused": f"Message-ID 与另一封邮件相同（{detail.get('message_id', '')}），已作为新邮件处理",
        "ocr_failed": f"文字识别未完成：{detail.get('error', '')}",
        "sla_paused": f"SLA 计时暂停（剩余 {_minutes(detail.get('remaining_minutes'))}）",
        "sla_resumed": f"SLA 恢复计时（暂停 {_minutes(detail.get('paused_minutes'))}）",
        "sla_restarted": f"重新开始计时（第 {detail.get('clock', '')} 轮）",
        "sla_warned": "SLA 预警",
        "sla_breached": "SLA 已超时",
        "sla_warning": f"SLA 预警已发出（第 {detail.get('clock', 1)} 轮计时）",
        "sla_breach": f"SLA 已超时，超时通知已发出（第 {detail.get('clock', 1)} 轮计时）",
        "resolution": f"办理{TYPE_LABELS.get(event.field or '', '')}：{event.new_value or ''}",
        "material_requested": f"请企业补充材料：{event.new_value or ''}",
        "approval_requested": f"提交主管审批（{TYPE_LABELS.get(event.field or '', '')}"
        + (f"，账号 {event.new_value}" if event.new_value else "")
        + (f"，越过核对的理由：{detail['override']['reason']}" if detail.get("override") else "")
        + "）",
        "approval_approved": f"主管批准{TYPE_LABELS.get(event.field or '', '')}申请",
        "approval_declined": "主管驳回审批" + (f"：{detail['reason']}" if detail.get("reason") else ""),
        "merged": f"合并到 ZXZJ#{event.new_value}",
        "merged_from": f"ZXZJ#{event.new_value} 合并到本工单",
        "enterprise_linked": f"关联企业 #{event.new_value}",
        "enterprise_candidates": "找到多个可能的企业，待人工确认",
        "retention_removed": f"按个人信息保留期限（{detail.get('days', '')} 天）删除了原始邮件、附件和邮件正文",
        "attachment_problem": (
            f"附件未保存：{detail.get('name', '')}"
            if detail.get("name")
            else f"附件内容未能读出：{detail.get('problem', '')}"
        ),
    }
    if kind in simple:
        return simple[kind]
    # a kind without wording yet: say what changed without internal codes
    label = FIELD_LABELS.get(event.field or "", "")
    if label:
        return f"{label}：{event.old_value or '（空）'} → {event.new_value or '（空）'}"
    return "其他操作" + (f"：{event.new_value}" if event.new_value else "")
