"""The ticket lifecycle. Each public function is one unit of work and commits once.

Private helpers (`_record`, `_set_status`, `_reply`) only change rows in the caller's transaction, so
that a status change, its timeline event, its SLA clock and the mail it causes commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from helpdesk.auth.models import Role, User
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.letters.current import current_letter
from helpdesk.mail import addresses, outbox
from helpdesk.mail.filters import add_subject_tag
from helpdesk.sla import clock
from helpdesk.tickets.models import (
    OPEN_STATUSES,
    STATUS_LABELS,
    TYPE_LABELS,
    Macro,
    Message,
    MessageKind,
    Notification,
    SavedFilter,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from helpdesk.tickets.queries import normalise_saved_query, presence_range


class TicketError(ValueError):
    """A refused ticket operation, with a Chinese message for the agent."""


class Conflict(TicketError):
    """Someone saved the ticket after this page was loaded."""

    def __init__(self) -> None:
        super().__init__("这张工单在您打开之后已被他人修改。请重新加载页面，核对最新内容后再操作。")


def _record(
    ticket: Ticket,
    kind: str,
    *,
    by: User | None = None,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket=ticket,
        kind=kind,
        field=field,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
        detail=detail,
        actor_id=by.id if by else None,
        at=at or utcnow(),
    )
    session.add(event)
    return event


def _check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict()


def _commit_or_conflict() -> None:
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict() from None


def _sender() -> str:
    return str(current_app.config["HELPDESK"]["HELPDESK_SMTP_FROM"])


def _set_status(
    ticket: Ticket, status: TicketStatus, *, by: User | None, at: datetime, reason: str = ""
) -> None:
    old = ticket.status
    if old == status.value:
        return
    ticket.status = status.value
    _record(
        ticket,
        "status",
        by=by,
        field="status",
        old=old,
        new=status.value,
        at=at,
        detail={"reason": reason} if reason else None,
    )
    if status == TicketStatus.WAITING:
        remaining = clock.pause(ticket, at)
        _record(ticket, "sla_paused", by=by, at=at, detail={"remaining_minutes": remaining})
    elif old == TicketStatus.WAITING.value and status.value in ("new", "open"):
        paused = clock.resume(ticket, at)
        _record(
            ticket,
            "sla_resumed",
            by=by,
            at=at,
            detail={"paused_minutes": paused, "due_at": _iso(ticket.due_at)},
        )
    elif old in ("resolved", "rejected") and status.value in OPEN_STATUSES:
        ticket.sla_clock_no += 1
        ticket.resolved_at = None
        clock.start(ticket, at)
        _record(
            ticket,
            "sla_restarted",
            by=by,
            at=at,
            detail={"clock": ticket.sla_clock_no, "due_at": _iso(ticket.due_at)},
        )
    if status.value in ("resolved", "rejected", "merged"):
        ticket.resolved_at = at
        if ticket.sla_paused_at is not None:
            # closed while waiting: the clock stays stopped; keep the remainder for the report
            ticket.sla_paused_at = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _thread_refs(ticket: Ticket) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a mail on this ticket: the latest inbound mail and our earlier ones."""
    ids = [m.message_id for m in ticket.messages if m.message_id and m.kind != MessageKind.NOTE.value]
    inbound = [m.message_id for m in ticket.messages if m.kind == MessageKind.INBOUND.value and m.message_id]
    return (inbound[-1] if inbound else (ids[-1] if ids else None)), ids[-20:]


def _reply(
    ticket: Ticket,
    body: str,
    *,
    by: User | None,
    kind: str = "reply",
    to: str | None = None,
    subject: str | None = None,
) -> Message:
    """Queue a reply to the requester and add it to the conversation (caller's transaction)."""
    if not (to or ticket.requester_email):
        raise TicketError("这张工单没有发件人地址，无法回复邮件。请改用内部备注。")
    recipient, problem = addresses.single_mailbox(to or ticket.requester_email)
    if recipient is None:
        raise TicketError(f"这张工单的发件人地址无法用于回复（{problem}）。请电话联系企业，或改用内部备注。")
    in_reply_to, references = _thread_refs(ticket)
    subject = add_subject_tag(subject or f"回复：{ticket.subject}", ticket.id)
    row = outbox.queue(
        to=recipient,
        subject=subject,
        body=body,
        sender=_sender(),
        ticket_id=ticket.id,
        kind=kind,
        in_reply_to=in_reply_to,
        references=references,
    )
    session.flush()
    message = Message(
        ticket=ticket,
        kind=MessageKind.OUTBOUND.value,
        message_id=row.message_id,
        in_reply_to=in_reply_to,
        sender=_sender(),
        recipients=recipient,
        subject=subject,
        body_text=body,
        author_id=by.id if by else None,
        outbound_mail_id=row.id,
    )
    session.add(message)
    return message


# ----------------------------------------------------------------------------------------- actions


def assign(ticket: Ticket, assignee: User | None, *, by: User, expected_version: int | None = None) -> None:
    """Assign (or unassign with None). Agents may only take tickets for themselves. Commits."""
    if not by.has_role(Role.SUPERVISOR) and (assignee is None or assignee.id != by.id):
        raise TicketError("客服人员只能把工单分配给自己；改派他人需要主管权限。")
    _check_version(ticket, expected_version)
    old = ticket.assignee_id
    new = assignee.id if assignee else None
    if old == new:
        return
    ticket.assignee_id = new
    if ticket.status == TicketStatus.NEW.value and new is not None:
        _set_status(ticket, TicketStatus.OPEN, by=by, at=utcnow())
    _record(ticket, "assigned", by=by, field="assignee", old=old, new=new)
    _commit_or_conflict()


def claim(ticket: Ticket, *, by: User) -> bool:
    """Take an unassigned ticket; False when someone else took it first. Commits."""
    now = utcnow()
    won = (
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id, Ticket.assignee_id.is_(None))
            .values(assignee_id=by.id, version=Ticket.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if not won:  # another agent claimed it between page load and click
        session.rollback()
        return False
    session.refresh(ticket)
    _record(ticket, "assigned", by=by, field="assignee", old=None, new=by.id, detail={"claimed": True})
    if ticket.status == TicketStatus.NEW.value:
        _set_status(ticket, TicketStatus.OPEN, by=by, at=now)
    _commit_or_conflict()
    return True


def set_status(
    ticket: Ticket, status: TicketStatus, *, by: User, reason: str = "", expected_version: int | None = None
) -> None:
    """Change the status by hand (pauses, resumes or restarts the SLA clock as the status requires). Commits."""
    if status == TicketStatus.MERGED:
        raise TicketError("合并请使用“合并到其他工单”操作。")
    _check_version(ticket, expected_version)
    _set_status(ticket, status, by=by, at=utcnow(), reason=reason)
    _commit_or_conflict()


def add_note(ticket: Ticket, body: str, *, by: User) -> Message:
    """Add an internal note (never mailed). Commits."""
    body = body.strip()
    if not body:
        raise TicketError("备注内容不能为空。")
    note = Message(
        ticket=ticket, kind=MessageKind.NOTE.value, sender=by.name, body_text=body, author_id=by.id
    )
    session.add(note)
    _record(ticket, "note", by=by)
    _commit_or_conflict()
    return note


def reply(
    ticket: Ticket,
    body: str,
    *,
    by: User,
    request_material: bool = False,
    close_as: TicketStatus | None = None,
    expected_version: int | None = None,
) -> Message:
    """Mail a reply through the outbox; optionally wait on the enterprise (clock paused). Commits."""
    body = body.strip()
    if not body:
        raise TicketError("回复内容不能为空。")
    _check_version(ticket, expected_version)
    now = utcnow()
    message = _reply(ticket, body, by=by, kind="request" if request_material else "reply")
    _record(ticket, "reply", by=by, detail={"request_material": request_material})
    ticket.updated_at = now  # a reply is a change: the version moves, so a stale form elsewhere conflicts
    if ticket.assignee_id is None:
        ticket.assignee_id = by.id
        _record(ticket, "assigned", by=by, field="assignee", old=None, new=by.id)
    if request_material:
        _set_status(ticket, TicketStatus.WAITING, by=by, at=now, reason="请企业补充材料")
    elif close_as is not None:
        _set_status(ticket, close_as, by=by, at=now)
    elif ticket.status == TicketStatus.NEW.value:
        _set_status(ticket, TicketStatus.OPEN, by=by, at=now)
    _commit_or_conflict()
    return message


def update_fields(
    ticket: Ticket, changes: Mapping[str, Any], *, by: User, expected_version: int | None = None
) -> int:
    """Correct extracted letter fields (each change is a timeline event); returns how many changed. Commits."""
    _check_version(ticket, expected_version)
    fields = dict(ticket.fields or {})
    changed = 0
    for name, value in changes.items():
        if fields.get(name) == value:
            continue
        _record(ticket, "field", by=by, field=name, old=fields.get(name), new=value)
        fields[name] = value
        changed += 1
    if changed:
        ticket.fields = fields
        ticket.search_text = search_text_for(ticket)
        _commit_or_conflict()
    return changed


def change_type(ticket: Ticket, new_type: str, *, by: User, expected_version: int | None = None) -> None:
    """Change the ticket type; the running clock is recomputed with the new type's policy. Commits."""
    if new_type not in TYPE_LABELS:
        raise TicketError("未知的工单类型。")
    _check_version(ticket, expected_version)
    if new_type == ticket.type:
        return
    _record(ticket, "type", by=by, field="type", old=ticket.type, new=new_type)
    ticket.type = new_type
    clock.recompute(ticket)
    _commit_or_conflict()


def reject(ticket: Ticket, reason: str, *, by: User, expected_version: int | None = None) -> None:
    """Reject with a reason mailed to the enterprise. Commits."""
    reason = reason.strip()
    if not reason:
        raise TicketError("请填写驳回原因，它会发给企业。")
    _check_version(ticket, expected_version)
    if not ticket.is_open:
        raise TicketError(f"工单已是“{STATUS_LABELS[ticket.status]}”状态，不能驳回。")
    body = (
        f"您好：\n\n您提交的申请（工单 {ticket.number}）未能办理，原因如下：\n{reason}\n\n"
        "请按要求补正后回复本邮件（保留邮件标题中的工单号），我们会在收到后 2 个工作日内处理。\n\n"
        "外贸发展专项资金（中小）网络管理应用项目组"
    )
    _reply(ticket, body, by=by, kind="reply", subject=f"驳回：{ticket.subject}")
    _set_status(ticket, TicketStatus.REJECTED, by=by, at=utcnow(), reason=reason)
    _commit_or_conflict()


def merge(ticket: Ticket, target: Ticket, *, by: User, expected_version: int | None = None) -> None:
    """Merge `ticket` into `target`: messages and attachments move, a link is kept, the clock stops. Commits."""
    if ticket.id == target.id:
        raise TicketError("不能把工单合并到它自己。")
    if target.status == TicketStatus.MERGED.value:
        raise TicketError(f"目标工单 {target.number} 本身已被合并，请选择它合并到的工单。")
    _check_version(ticket, expected_version)
    if ticket.status == TicketStatus.MERGED.value:
        raise TicketError("这张工单已经合并过了。")
    now = utcnow()
    for message in list(ticket.messages):
        message.ticket_id = target.id
    for attachment in list(ticket.attachments):
        attachment.ticket_id = target.id
    ticket.merged_into_id = target.id
    _record(ticket, "merged", by=by, field="merged_into", new=target.id, at=now)
    _record(target, "merged_from", by=by, new=ticket.id, at=now)
    _set_status(ticket, TicketStatus.MERGED, by=by, at=now)
    _commit_or_conflict()


SEARCH_TEXT_BYTES = 2000


def search_text_for(ticket: Ticket) -> str:
    """Lower-cased haystack for the queue's free-text search."""
    parts = [ticket.subject, ticket.requester_email, ticket.requester_name]
    read = current_letter(ticket).read
    for field in read.fields if read else ():
        parts.extend(field.value if isinstance(field.value, list) else [field.value])
    for value in (ticket.fields or {}).values():
        parts.extend(value if isinstance(value, list) else [value])
    text = " ".join(str(p) for p in parts if p).lower()
    # capped in bytes: the column is indexed (ix_tickets_search_text) and PostgreSQL's btree entries
    # must stay under ~2,700 bytes
    return text.encode()[:SEARCH_TEXT_BYTES].decode(errors="ignore")


def mark_notifications_read(user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all, or the given ids). Commits."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids:
        stmt = stmt.where(Notification.id.in_(ids))
    with unit_of_work() as s:
        count = s.execute(stmt.values(read_at=utcnow())).rowcount
    return count


def users_with_role(role: Role) -> list[User]:
    return [u for u in session.scalars(select(User).where(User.active.is_(True))) if u.has_role(role)]


# ----------------------------------------------------------------------------------- queue work


#: how often "next" retries when another agent took its candidate first (SQLite's guarded update)
NEXT_ATTEMPTS = 8


def handled_types(user: User) -> list[str]:
    """The ticket types this agent takes with "下一个" (all types when none are set)."""
    types = [t.strip() for t in (user.ticket_types or "").split(",") if t.strip() in TYPE_LABELS]
    return types or list(TYPE_LABELS)


def next_ticket(*, by: User) -> Ticket | None:
    """Assign the most urgent unassigned ticket of `by`'s types to `by`; None when there is none. Commits.

    Two agents pressing "下一个" at once never get the same ticket:
    1. PostgreSQL: the candidate row is read with FOR UPDATE SKIP LOCKED, so a concurrent caller skips
       it and takes the next one instead of waiting;
    2. SQLite (which ignores FOR UPDATE): the UPDATE is guarded by `assignee_id IS NULL`, and a lost
       race (rowcount 0) retries with the next candidate.
    """
    types = handled_types(by)
    for _attempt in range(NEXT_ATTEMPTS):
        candidate = session.scalar(
            select(Ticket.id)
            .where(Ticket.assignee_id.is_(None), Ticket.status.in_(("new", "open")), Ticket.type.in_(types))
            .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if candidate is None:
            session.rollback()
            return None
        won = (
            session.execute(
                update(Ticket)
                .where(Ticket.id == candidate, Ticket.assignee_id.is_(None))
                .values(assignee_id=by.id, version=Ticket.version + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
        if not won:  # rowcount != 1: another agent claimed it between our SELECT and UPDATE
            session.rollback()
            continue
        ticket = session.get(Ticket, candidate)
        assert ticket is not None
        session.refresh(ticket)
        now = utcnow()
        _record(
            ticket, "assigned", by=by, field="assignee", old=None, new=by.id, at=now, detail={"next": True}
        )
        if ticket.status == TicketStatus.NEW.value:
            _set_status(ticket, TicketStatus.OPEN, by=by, at=now)
        _commit_or_conflict()
        return ticket
    session.rollback()
    return None


def _require_supervisor(by: User) -> None:
    if not by.has_role(Role.SUPERVISOR):
        raise TicketError("批量操作需要主管权限。")


def _tickets(ids: list[int]) -> list[Ticket]:
    if not ids:
        raise TicketError("请先勾选工单。")
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)))


def bulk_assign(ids: list[int], assignee: User | None, *, by: User) -> int:
    """Assign (or unassign) many tickets at once (supervisors); returns how many changed. Commits once."""
    _require_supervisor(by)
    now = utcnow()
    changed = 0
    for ticket in _tickets(ids):
        new = assignee.id if assignee else None
        if ticket.assignee_id == new or ticket.status == TicketStatus.MERGED.value:
            continue
        _record(
            ticket,
            "assigned",
            by=by,
            field="assignee",
            old=ticket.assignee_id,
            new=new,
            at=now,
            detail={"bulk": True},
        )
        ticket.assignee_id = new
        if ticket.status == TicketStatus.NEW.value and new is not None:
            _set_status(ticket, TicketStatus.OPEN, by=by, at=now)
        changed += 1
    _commit_or_conflict()
    return changed


def bulk_set_status(ids: list[int], status: TicketStatus, *, by: User, reason: str = "") -> int:
    """Set the status of many tickets (supervisors); merged tickets are left alone. Commits once."""
    _require_supervisor(by)
    if status == TicketStatus.MERGED:
        raise TicketError("合并请在工单页面逐张操作。")
    now = utcnow()
    changed = 0
    for ticket in _tickets(ids):
        if ticket.status in (status.value, TicketStatus.MERGED.value):
            continue
        _set_status(ticket, status, by=by, at=now, reason=reason or "批量操作")
        changed += 1
    _commit_or_conflict()
    return changed


# ----------------------------------------------------------------------------------- presence


PRESENCE_SWEEP = timedelta(hours=1)


def heartbeat(ticket_id: int, user: User, now: datetime | None = None) -> None:
    """Record that `user` has the ticket open now (a Setting row "viewing:<ticket>:<user>"). Commits.

    A row in the database, not process memory: gunicorn's workers each see every viewer. One row per
    (ticket, user), so two agents' heartbeats never overwrite each other. When a page is opened (a new
    row), every viewing row older than an hour is swept, so the rows stay as few as the open pages.
    """
    now = now or utcnow()
    key = f"viewing:{ticket_id}:{user.id}"
    value = {"user_id": user.id, "name": user.name, "at": now.isoformat()}
    row = session.get(Setting, key)
    if row is None:
        session.execute(
            delete(Setting)
            .where(presence_range(None), Setting.updated_at < now - PRESENCE_SWEEP)
            .execution_options(synchronize_session=False)
        )
        session.add(Setting(key=key, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
    try:
        session.commit()
    except IntegrityError:  # the same user's other tab inserted it a moment ago: the row is fresh
        session.rollback()


def leave(ticket_id: int, user: User) -> None:
    """Forget `user`'s heartbeat on the ticket (page closed). Commits."""
    row = session.get(Setting, f"viewing:{ticket_id}:{user.id}")
    if row is not None:
        session.delete(row)
        session.commit()


# ----------------------------------------------------------------------------------- saved filters


def save_filter(user: User, name: str, query: str) -> SavedFilter:
    """Save (or replace, by name) one of the user's queue filters. Commits."""
    name = name.strip()[:100]
    if not name:
        raise TicketError("请给筛选条件起个名字。")
    query = normalise_saved_query(query)
    row = session.scalar(select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name))
    if row is None:
        row = SavedFilter(user_id=user.id, name=name, query=query)
        session.add(row)
    else:
        row.query = query
    session.commit()
    return row


def delete_filter(user: User, filter_id: int) -> None:
    """Delete one of the user's saved filters. Commits."""
    row = session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user.id:
        raise TicketError("找不到这个筛选条件。")
    session.delete(row)
    session.commit()


# ----------------------------------------------------------------------------------- macros


MACRO_ACTIONS = {"": "仅回复", "request_material": "回复并等待企业补充（暂停计时）"}


def save_macro(
    macro: Macro | None, *, key: str, title: str, body: str, category: str, action: str, by: User
) -> Macro:
    """Create or edit a canned reply (supervisors). Commits."""
    if not by.has_role(Role.SUPERVISOR):
        raise TicketError("只有主管可以编辑回复模板。")
    key, title, body = key.strip()[:80], title.strip()[:200], body.strip()
    if not key or not title or not body:
        raise TicketError("标识、标题和正文都不能为空。")
    if action not in MACRO_ACTIONS:
        raise TicketError("未知的模板动作。")
    clash = session.scalar(select(Macro).where(Macro.key == key))
    if clash is not None and (macro is None or clash.id != macro.id):
        raise TicketError(f"标识 {key} 已被另一个模板使用。")
    if macro is None:
        macro = Macro(key=key, title=title, body=body, category=category.strip()[:40], action=action)
        session.add(macro)
    else:
        macro.key, macro.title, macro.body = key, title, body
        macro.category, macro.action = category.strip()[:40], action
    session.commit()
    return macro


def delete_macro(macro: Macro, *, by: User) -> None:
    """Delete a canned reply (supervisors). Commits."""
    if not by.has_role(Role.SUPERVISOR):
        raise TicketError("只有主管可以删除回复模板。")
    session.delete(macro)
    session.commit()
