"""Tickets opened by hand: an enterprise telephones or visits, and the agent records the request.

The ticket follows the same promise as a mail: its SLA clock starts the moment it is opened. The
enterprise comes from the records (by USCC, account or exact name), the call's notes are the first
entry of the conversation (an internal note: there is no mail to show), and an acknowledgement goes
out only if the agent asks for it and there is an address. The form's one-time key is stored unique
on the ticket, so a form posted twice (a double click, a resend after a timeout) opens one ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import User
from helpdesk.db import Refused, session, unit_of_work, utcnow
from helpdesk.mail import addresses
from helpdesk.records import lookup
from helpdesk.records.models import Enterprise
from helpdesk.sla import clock
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.models import Message, MessageKind, Ticket
from helpdesk.vocabulary import TYPE_LABELS, TicketStatus

CHANNEL_LABELS = {"mail": "邮件", "phone": "电话", "visit": "来访"}


@dataclass(frozen=True)
class ByHand:
    channel: str  #: phone / visit
    type: str
    enterprise: str  #: USCC, account name or the exact company name
    contact: str  #: who called, and their number
    note: str  #: what they asked for
    email: str = ""  #: where to send the acknowledgement and the replies
    acknowledge: bool = False
    client_key: str = ""  #: the form's one-time key


def find_enterprise(text: str) -> Enterprise:
    """The one enterprise the agent named; Refused with what to do when none or several match."""
    text = text.strip()
    if not text:
        raise Refused("请填写企业：统一社会信用代码、平台账号或企业全称。")
    found = lookup.by_uscc(lookup.normalize_uscc(text)) or lookup.by_account(text)
    if found is not None:
        return found
    named = lookup.by_name(text)
    exact = [e for e in named if e.name == text]
    if len(exact) == 1:
        return exact[0]
    if named:
        names = "、".join(e.name for e in named[:5])
        raise Refused(f"“{text}”对应多家企业或不是全称（{names}）：请填写统一社会信用代码。")
    raise Refused(f"企业档案中没有“{text}”：请核对统一社会信用代码或平台账号。")


def open_ticket(request: ByHand, *, by: User) -> Ticket:
    """Open the ticket, start its clock now, assign it to the agent who took the call. Commits."""
    if request.channel not in ("phone", "visit"):
        raise Refused("请选择来源：电话或来访。")
    if request.type not in TYPE_LABELS:
        raise Refused("请选择工单类型。")
    if not request.note.strip():
        raise Refused("请填写来电内容：企业要办理什么。")
    email = request.email.strip()
    if email and addresses.single_mailbox(email).address is None:
        raise Refused(f"邮箱“{email}”无效：请改正或留空。")
    if request.acknowledge and not email:
        raise Refused("要发送受理确认，请填写企业的邮箱。")
    try:
        return _open(request, email, by)
    except IntegrityError:
        # the same form posted twice at once: the other request's insert won the unique key
        existing = session.scalar(select(Ticket).where(Ticket.client_key == request.client_key))
        if existing is None or not request.client_key:
            raise
        return existing


def _open(request: ByHand, email: str, by: User) -> Ticket:
    with unit_of_work():
        if request.client_key:
            existing = session.scalar(select(Ticket).where(Ticket.client_key == request.client_key))
            if existing is not None:  # the same form again: the ticket it opened the first time
                return existing
        enterprise = find_enterprise(request.enterprise)
        now = utcnow()
        label = CHANNEL_LABELS[request.channel]
        ticket = Ticket(
            type=request.type,
            status=TicketStatus.OPEN.value,
            subject=f"{label}：{enterprise.name} {TYPE_LABELS[request.type]}",
            requester_email=email,
            requester_name=request.contact.strip()[:200],
            enterprise_id=enterprise.id,
            assignee_id=by.id,
            received_at=now,
            channel=request.channel,
            client_key=request.client_key or None,
            fields={"company_name": enterprise.name, "contact": request.contact.strip()[:200]},
        )
        session.add(ticket)
        session.flush()
        clock.start(ticket, now)
        session.add(
            Message(
                ticket_id=ticket.id,
                kind=MessageKind.NOTE.value,
                author_id=by.id,
                body_text=f"【{label}记录】联系人：{request.contact.strip() or '—'}\n{request.note.strip()}",
                created_at=now,
            )
        )
        lifecycle.record(ticket, "created", by=by, new=ticket.type, at=now,
                         detail={"channel": request.channel, "due_at": ticket.due_at.isoformat()})  # fmt: skip
        ticket.search_text = services.search_text_for(ticket)
        if request.acknowledge:
            lifecycle.queue_reply(ticket, _acknowledgement(ticket, label), by=by, kind="ack",
                                  subject=f"已受理：{ticket.subject}")  # fmt: skip
    return ticket


def _acknowledgement(ticket: Ticket, label: str) -> str:
    due = ticket.due_at.astimezone(current_app.config["HELPDESK"].timezone) if ticket.due_at else None
    due_text = f"{due:%Y年%m月%d日 %H:%M}" if due else "2 个工作日内"
    return (
        f"您好：\n\n我们已记录您的{label}（{ticket.subject}），工单号 {ticket.number}。\n"
        f"工作人员将在 2 个工作日内处理，预计最迟于 {due_text} 前答复。\n\n"
        "如需提交盖章的说明函或营业执照，请直接回复本邮件，并保留标题中的工单号。\n\n"
        "外贸发展专项资金（中小）网络管理应用项目组"
    )
