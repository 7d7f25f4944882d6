"""The dashboard's one write: moving an agent's open tickets to another agent (or back to the pool)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from helpdesk.auth.models import Role, User
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.tickets import services as ticket_services
from helpdesk.tickets.models import Ticket, TicketStatus

#: which of the agent's open tickets to move
SCOPES = {
    "all": ("new", "open", "waiting"),  #: every open ticket
    "active": ("new", "open"),  #: not those waiting on the enterprise
}
MAX_MOVE = 5000


class ReassignError(ValueError):
    """A refused bulk reassignment, with a Chinese message for the supervisor."""


def reassign(
    from_user: User, to_user: User | None, *, by: User, scope: str = "all", limit: int | None = None
) -> list[int]:
    """Move `from_user`'s open tickets (most urgent first, at most `limit`) to `to_user` (None: unassign).

    Each move is an 'assigned' event with `by` as actor, like a single reassignment; a new ticket that
    gets an assignee becomes 处理中 as in tickets.services.assign. One commit for all; returns the ids.
    Raises ReassignError when refused, or when another user changed one of the tickets meanwhile
    (nothing is moved then).
    """
    if not by.has_role(Role.SUPERVISOR):
        raise ReassignError("只有主管可以批量改派工单。")
    if to_user is not None and to_user.id == from_user.id:
        raise ReassignError("改派的目标客服与原客服相同。")
    if to_user is not None and not to_user.active:
        raise ReassignError(f"{to_user.name} 的账户已停用，不能接收工单。")
    statuses = SCOPES.get(scope)
    if statuses is None:
        raise ReassignError("未知的改派范围。")
    count = min(limit, MAX_MOVE) if limit and limit > 0 else MAX_MOVE
    now = utcnow()
    new_id = to_user.id if to_user is not None else None
    try:
        with unit_of_work() as s:
            tickets = s.scalars(
                select(Ticket)
                .where(Ticket.assignee_id == from_user.id, Ticket.status.in_(statuses))
                .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.received_at, Ticket.id)
                .limit(count)
            ).all()
            for ticket in tickets:
                ticket.assignee_id = new_id
                if ticket.status == TicketStatus.NEW.value and new_id is not None:
                    ticket_services._set_status(ticket, TicketStatus.OPEN, by=by, at=now)
                ticket_services._record(
                    ticket,
                    "assigned",
                    by=by,
                    field="assignee",
                    old=from_user.id,
                    new=new_id,
                    at=now,
                    detail={"bulk": True},
                )
            moved = [t.id for t in tickets]
    except StaleDataError:
        # the version check failed on one row: someone saved that ticket after we read it
        session.rollback()
        raise ReassignError("改派期间有工单被他人修改，本次未做任何改动。请刷新后重试。") from None
    return moved
