"""Agent workspace: the queue, the ticket page and its actions, attachments, notifications, macros.

Views are thin: they parse the form, call one service (one unit of work: it commits, or rolls back
and raises) and redirect; a view never commits or rolls back. A stale `version`
renders the conflict page (409) with a reload link and the text the agent typed; nothing is saved.
"""

from helpdesk.tickets.views import (  # noqa: F401  (each module registers its routes on bp)
    actions,
    attachments,
    by_hand,
    detail,
    drafts,
    macros,
    notifications,
    queue,
    resolution,
)
from helpdesk.tickets.views.common import bp

__all__ = ["bp"]
