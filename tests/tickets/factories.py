"""Plain factory functions for ticket tests: they add, flush and commit real rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from helpdesk.db import session, utcnow
from helpdesk.letters import Evidence, Field, Finding, Letter
from helpdesk.sla import clock
from helpdesk.tickets import lifecycle, services
from helpdesk.tickets.models import Message, MessageKind, Ticket

CHANGE_LETTER = Letter(
    type="change",
    type_reasons=("邮件正文标题为“变更说明”",),
    fields=(
        Field(
            "company_name",
            "北京示例科技有限公司",
            Evidence("body", "北京示例科技有限公司", None, 33, 43),
            0.9,
        ),
        Field("account_names", ["zxkt_bjsl01"], Evidence("body", "zxkt_bjsl01", None, 58, 69), 0.85),
        Field("reason", "统一社会信用代码填写错误", Evidence("body", "统一社会信用代码填写错误"), 0.9),
        Field("old_value", "91110108MA01ABCD12", Evidence("body", "91110108MA01ABCD12"), 0.76),
        Field(
            "new_value",
            "91110108551385082Q",
            Evidence("attachment:变更说明.docx", "91110108551385082Q", 1),
            0.85,
        ),
        Field("uscc", "91110108551385082Q", Evidence("body", "91110108551385082Q"), 0.9),
    ),
    findings=(
        Finding(
            "uscc_checksum", "pass", "邮件正文中的统一社会信用代码 91110108551385082Q 校验通过", "new_value"
        ),
        Finding("required_attachments", "fail", "缺少盖章的《变更说明》（说明写在邮件正文中，需另附盖章件）"),
    ),
)


def initial_fields(letter: Letter) -> dict[str, Any]:
    """Field values as intake stores them (codes as lists)."""
    out: dict[str, Any] = {}
    for f in letter.fields:
        if f.name not in out:
            out[f.name] = letter.values(f.name) if f.name in ("uscc", "org_code") else f.value
    return out


def make_ticket(
    *,
    type: str = "change",
    status: str = "new",
    subject: str = "变更说明",
    sender: str = "zhang@example.com",
    received_at: datetime | None = None,
    letter: Letter | None = None,
    assignee_id: int | None = None,
    enterprise_id: int | None = None,
    body: str = "您好，附件是变更说明。",
    body_html: str = "",
    fields: dict[str, Any] | None = None,
) -> Ticket:
    """A ticket with a running clock and one inbound message. Commits."""
    received_at = received_at or utcnow() - timedelta(hours=1)
    letter = letter if letter is not None else (CHANGE_LETTER if type == "change" else None)
    ticket = Ticket(
        type=type,
        status="new",
        subject=subject,
        requester_email=sender,
        requester_name="张三",
        received_at=received_at,
        assignee_id=assignee_id,
        enterprise_id=enterprise_id,
        fields=fields if fields is not None else (initial_fields(letter) if letter else {}),
    )
    session.add(ticket)
    session.flush()
    clock.start(ticket, received_at)
    session.add(
        Message(
            ticket=ticket,
            kind=MessageKind.INBOUND.value,
            message_id=f"in-{ticket.id}-{received_at.timestamp()}@example.com",
            sender=sender,
            subject=subject,
            body_text=body,
            body_html=body_html,
            created_at=received_at,
            letter=letter.to_dict() if letter else None,
        )
    )
    ticket.search_text = services.search_text_for(ticket)
    if status != "new":
        lifecycle.change_status(
            ticket, services.TicketStatus(status), by=None, at=received_at + timedelta(minutes=1)
        )
    session.commit()
    return ticket
