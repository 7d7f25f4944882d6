"""The dashboard's one write: moving an agent's open tickets to another agent (or back to the pool)."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.tickets import services as ticket_services
from helpdesk.tickets.models import Ticket

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
    # selected and moved in one transaction: tickets.services.bulk_assign continues it and commits once
    moved = list(
        session.scalars(
            select(Ticket.id)
            .where(Ticket.assignee_id == from_user.id, Ticket.status.in_(statuses))
            .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.received_at, Ticket.id)
            .limit(count)
        )
    )
    try:
        ticket_services.bulk_assign(moved, to_user, by=by)
    except ticket_services.Conflict:
        raise ReassignError("改派期间有工单被他人修改，本次未做任何改动。请刷新后重试。") from None
    return moved
