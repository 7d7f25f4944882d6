"""What agents and supervisors do to tickets. Each public function is one unit of work: it commits once
(`with unit_of_work():`), and on any error nothing it did is saved.

The steps they are made of (record an event, change the status, queue a reply) live in
tickets.lifecycle and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import Role, User
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.letters.current import current_letter
from helpdesk.sla import clock
from helpdesk.tickets import drafts, lifecycle, macros
from helpdesk.tickets.lifecycle import Conflict as Conflict  # re-exported: callers catch services.Conflict
from helpdesk.tickets.lifecycle import TicketError, check_version
from helpdesk.tickets.models import (
    STATUS_LABELS,
    TYPE_LABELS,
    Macro,
    Message,
    MessageKind,
    Notification,
    SavedFilter,
    Ticket,
    TicketStatus,
)
from helpdesk.tickets.queries import normalise_saved_query, presence_range
from helpdesk.vocabulary import RUNNING_STATUSES

# ----------------------------------------------------------------------------------------- actions


def assign(ticket: Ticket, assignee: User | None, *, by: User, expected_version: int | None = None) -> None:
    """Assign (or unassign with None). Agents may only take tickets for themselves. Commits."""
    with unit_of_work():
        if not by.has_role(Role.SUPERVISOR) and (assignee is None or assignee.id != by.id):
            raise TicketError("客服人员只能把工单分配给自己；改派他人需要主管权限。")
        check_version(ticket, expected_version)
        old = ticket.assignee_id
        new = assignee.id if assignee else None
        if old == new:
            return
        ticket.assignee_id = new
        if ticket.status == TicketStatus.NEW.value and new is not None:
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=by, at=utcnow())
        lifecycle.record(ticket, "assigned", by=by, field="assignee", old=old, new=new)


def claim(ticket: Ticket, *, by: User) -> bool:
    """Take an unassigned ticket; False when someone else took it first. Commits."""
    with unit_of_work():
        now = utcnow()
        if not _take(ticket.id, by):  # another agent claimed it between page load and click
            return False
        session.refresh(ticket)
        lifecycle.record(
            ticket, "assigned", by=by, field="assignee", old=None, new=by.id, detail={"claimed": True}
        )
        if ticket.status == TicketStatus.NEW.value:
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=by, at=now)
        return True


def _take(ticket_id: int, by: User) -> bool:
    """Assign the ticket to `by` if it is still unassigned (compare-and-set); False when it was not."""
    return (
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.assignee_id.is_(None))
            .values(assignee_id=by.id, version=Ticket.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def set_status(
    ticket: Ticket, status: TicketStatus, *, by: User, reason: str = "", expected_version: int | None = None
) -> None:
    """Change the status by hand (pauses, resumes or restarts the SLA clock as the status requires). Commits."""
    with unit_of_work():
        if status == TicketStatus.MERGED:
            raise TicketError("合并请使用“合并到其他工单”操作。")
        check_version(ticket, expected_version)
        lifecycle.change_status(ticket, status, by=by, at=utcnow(), reason=reason)


def add_note(ticket: Ticket, body: str, *, by: User) -> Message:
    """Add an internal note (never mailed). Commits."""
    with unit_of_work():
        body = body.strip()
        if not body:
            raise TicketError("备注内容不能为空。")
        note = Message(
            ticket=ticket, kind=MessageKind.NOTE.value, sender=by.name, body_text=body, author_id=by.id
        )
        session.add(note)
        lifecycle.record(ticket, "note", by=by)
    return note


def reply(
    ticket: Ticket,
    body: str,
    *,
    by: User,
    request_material: bool = False,
    close_as: TicketStatus | None = None,
    expected_version: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> Message:
    """Mail a reply through the outbox; optionally wait on the enterprise (clock paused). Commits.

    `attachments` are stored files (tickets.reply_files); the sender's reply draft is deleted with it."""
    with unit_of_work():
        body = body.strip()
        if not body:
            raise TicketError("回复内容不能为空。")
        check_version(ticket, expected_version)
        now = utcnow()
        message = lifecycle.queue_reply(
            ticket, body, by=by, kind="request" if request_material else "reply", attachments=attachments
        )
        drafts.discard(ticket.id, by.id)
        detail: dict[str, Any] = {"request_material": request_material}
        if attachments:
            detail["attachments"] = [a["name"] for a in attachments]
        lifecycle.record(ticket, "reply", by=by, detail=detail)
        ticket.updated_at = now  # a reply is a change: the version moves, so a stale form elsewhere conflicts
        if ticket.assignee_id is None:
            ticket.assignee_id = by.id
            lifecycle.record(ticket, "assigned", by=by, field="assignee", old=None, new=by.id)
        if request_material:
            lifecycle.change_status(ticket, TicketStatus.WAITING, by=by, at=now, reason="请企业补充材料")
        elif close_as is not None:
            lifecycle.change_status(ticket, close_as, by=by, at=now)
        elif ticket.status == TicketStatus.NEW.value:
            lifecycle.change_status(ticket, TicketStatus.OPEN, by=by, at=now)
    return message


def update_fields(
    ticket: Ticket, changes: Mapping[str, Any], *, by: User, expected_version: int | None = None
) -> int:
    """Correct extracted letter fields (each change is a timeline event); returns how many changed. Commits."""
    with unit_of_work():
        check_version(ticket, expected_version)
        fields = dict(ticket.fields or {})
        changed = 0
        for name, value in changes.items():
            if fields.get(name) == value:
                continue
            lifecycle.record(ticket, "field", by=by, field=name, old=fields.get(name), new=value)
            fields[name] = value
            changed += 1
        if changed:
            ticket.fields = fields
            ticket.search_text = search_text_for(ticket)
    return changed


def change_type(ticket: Ticket, new_type: str, *, by: User, expected_version: int | None = None) -> None:
    """Change the ticket type; the running clock is recomputed with the new type's policy. Commits."""
    with unit_of_work():
        if new_type not in TYPE_LABELS:
            raise TicketError("未知的工单类型。")
        check_version(ticket, expected_version)
        if new_type == ticket.type:
            return
        lifecycle.record(ticket, "type", by=by, field="type", old=ticket.type, new=new_type)
        ticket.type = new_type
        clock.recompute(ticket)


def reject(ticket: Ticket, reason: str, *, by: User, expected_version: int | None = None) -> None:
    """Reject with a reason mailed to the enterprise. Commits."""
    with unit_of_work():
        reason = reason.strip()
        if not reason:
            raise TicketError("请填写驳回原因，它会发给企业。")
        check_version(ticket, expected_version)
        if not ticket.is_open:
            raise TicketError(f"工单已是“{STATUS_LABELS[ticket.status]}”状态，不能驳回。")
        body = (
            f"您好：\n\n您提交的申请（工单 {ticket.number}）未能办理，原因如下：\n{reason}\n\n"
            "请按要求补正后回复本邮件（保留邮件标题中的工单号），我们会在收到后 2 个工作日内处理。\n\n"
            + macros.SIGNATURE
        )
        lifecycle.queue_reply(ticket, body, by=by, kind="reply", subject=f"驳回：{ticket.subject}")
        lifecycle.change_status(ticket, TicketStatus.REJECTED, by=by, at=utcnow(), reason=reason)


def merge(ticket: Ticket, target: Ticket, *, by: User, expected_version: int | None = None) -> None:
    """Merge `ticket` into `target`: messages and attachments move, a link is kept, the clock stops. Commits."""
    with unit_of_work():
        if ticket.id == target.id:
            raise TicketError("不能把工单合并到它自己。")
        if target.status == TicketStatus.MERGED.value:
            raise TicketError(f"目标工单 {target.number} 本身已被合并，请选择它合并到的工单。")
        check_version(ticket, expected_version)
        if ticket.status == TicketStatus.MERGED.value:
            raise TicketError("这张工单已经合并过了。")
        now = utcnow()
        for message in list(ticket.messages):
            message.ticket_id = target.id
        for attachment in list(ticket.attachments):
            attachment.ticket_id = target.id
        ticket.merged_into_id = target.id
        lifecycle.record(ticket, "merged", by=by, field="merged_into", new=target.id, at=now)
        lifecycle.record(target, "merged_from", by=by, new=ticket.id, at=now)
        lifecycle.change_status(ticket, TicketStatus.MERGED, by=by, at=now)


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
       race (rowcount 0) retries with the next candidate, each attempt its own unit of work.
    """
    types = handled_types(by)
    for _attempt in range(NEXT_ATTEMPTS):
        with unit_of_work():
            candidate = session.scalar(
                select(Ticket.id)
                .where(
                    Ticket.assignee_id.is_(None), Ticket.status.in_(RUNNING_STATUSES), Ticket.type.in_(types)
                )
                .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if candidate is None:
                return None
            if not _take(candidate, by):  # another agent claimed it between our SELECT and UPDATE
                continue
            ticket = session.get(Ticket, candidate)
            assert ticket is not None
            session.refresh(ticket)
            now = utcnow()
            lifecycle.record(
                ticket,
                "assigned",
                by=by,
                field="assignee",
                old=None,
                new=by.id,
                at=now,
                detail={"next": True},
            )
            if ticket.status == TicketStatus.NEW.value:
                lifecycle.change_status(ticket, TicketStatus.OPEN, by=by, at=now)
            return ticket
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
    with unit_of_work():
        _require_supervisor(by)
        now = utcnow()
        changed = 0
        for ticket in _tickets(ids):
            new = assignee.id if assignee else None
            if ticket.assignee_id == new or ticket.status == TicketStatus.MERGED.value:
                continue
            lifecycle.record(
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
                lifecycle.change_status(ticket, TicketStatus.OPEN, by=by, at=now)
            changed += 1
    return changed


def bulk_set_status(ids: list[int], status: TicketStatus, *, by: User, reason: str = "") -> int:
    """Set the status of many tickets (supervisors); merged tickets are left alone. Commits once."""
    with unit_of_work():
        _require_supervisor(by)
        if status == TicketStatus.MERGED:
            raise TicketError("合并请在工单页面逐张操作。")
        now = utcnow()
        changed = 0
        for ticket in _tickets(ids):
            if ticket.status in (status.value, TicketStatus.MERGED.value):
                continue
            lifecycle.change_status(ticket, status, by=by, at=now, reason=reason or "批量操作")
            changed += 1
    return changed


# ----------------------------------------------------------------------------------- presence


PRESENCE_SWEEP = timedelta(hours=1)
#: a stored heartbeat younger than this is fresh enough: no write (viewers count 45 s as present)
PRESENCE_WRITE_EVERY = timedelta(seconds=30)


def heartbeat(ticket_id: int, user: User, now: datetime | None = None) -> None:
    """Record that `user` has the ticket open now (a Setting row "viewing:<ticket>:<user>"). Commits.

    A row in the database, not process memory: gunicorn's workers each see every viewer. One row per
    (ticket, user), so two agents' heartbeats never overwrite each other. When a page is opened (a new
    row), every viewing row older than an hour is swept, so the rows stay as few as the open pages.
    """
    now = now or utcnow()
    # a plain read first: a page view within PRESENCE_WRITE_EVERY of the last heartbeat writes nothing
    # (on SQLite a GET then never takes the write lock; see helpdesk.db.reads)
    last = session.scalar(select(Setting.updated_at).where(Setting.key == f"viewing:{ticket_id}:{user.id}"))
    if last is not None and now - PRESENCE_WRITE_EVERY < last <= now:
        return
    try:
        with unit_of_work():
            _touch_presence(ticket_id, user, now)
    except IntegrityError:  # the same user's other tab inserted it a moment ago: the row is fresh
        pass


def _touch_presence(ticket_id: int, user: User, now: datetime) -> None:
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


def leave(ticket_id: int, user: User) -> None:
    """Forget `user`'s heartbeat on the ticket (page closed). Commits."""
    with unit_of_work():
        row = session.get(Setting, f"viewing:{ticket_id}:{user.id}")
        if row is not None:
            session.delete(row)


# ----------------------------------------------------------------------------------- saved filters


def save_filter(user: User, name: str, query: str) -> SavedFilter:
    """Save (or replace, by name) one of the user's queue filters. Commits."""
    with unit_of_work():
        name = name.strip()[:100]
        if not name:
            raise TicketError("请给筛选条件起个名字。")
        query = normalise_saved_query(query)
        row = session.scalar(
            select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name)
        )
        if row is None:
            row = SavedFilter(user_id=user.id, name=name, query=query)
            session.add(row)
        else:
            row.query = query
    return row


def delete_filter(user: User, filter_id: int) -> None:
    """Delete one of the user's saved filters. Commits."""
    with unit_of_work():
        row = session.get(SavedFilter, filter_id)
        if row is None or row.user_id != user.id:
            raise TicketError("找不到这个筛选条件。")
        session.delete(row)


# ----------------------------------------------------------------------------------- macros


def save_macro(
    macro: Macro | None,
    *,
    key: str,
    title: str,
    body: str,
    category: str,
    action: str,
    by: User,
    personal: bool = False,
) -> Macro:
    """Create or edit a canned reply: shared ones by supervisors, personal ones by their owner. Commits.

    `personal` applies to a new macro only (an existing one keeps its owner); a personal macro with no
    key gets one made from its owner and the time.
    """
    with unit_of_work():
        owner_id = macro.owner_id if macro is not None else (by.id if personal else None)
        if not macros.may_edit(owner_id, by):
            raise TicketError("只有主管可以编辑共用回复模板；个人模板只有本人可以编辑。")
        key, title, body = key.strip()[:80], title.strip()[:200], body.strip()
        if not key and owner_id is not None:
            key = macro.key if macro is not None else macros.personal_key(by.id)
        if not key or not title or not body:
            raise TicketError("标识、标题和正文都不能为空。")
        if action not in macros.MACRO_ACTIONS:
            raise TicketError("未知的模板动作。")
        clash = session.scalar(select(Macro).where(Macro.key == key))
        if clash is not None and (macro is None or clash.id != macro.id):
            raise TicketError(f"标识 {key} 已被另一个模板使用。")
        if macro is None:
            macro = Macro(
                key=key,
                title=title,
                body=body,
                category=category.strip()[:40],
                action=action,
                owner_id=owner_id,
            )
            session.add(macro)
        else:
            macro.key, macro.title, macro.body = key, title, body
            macro.category, macro.action = category.strip()[:40], action
    return macro


def delete_macro(macro: Macro, *, by: User) -> None:
    """Delete a canned reply: shared ones by supervisors, personal ones by their owner. Commits."""
    with unit_of_work():
        if not macros.may_edit(macro.owner_id, by):
            raise TicketError("只有主管可以删除共用回复模板；个人模板只有本人可以删除。")
        session.delete(macro)
