"""Import every model so that Base.metadata is complete (Alembic, create_all, relationships)."""

from helpdesk.auth.models import LoginAttempt, RecoveryCode, Role, User, UserSession
from helpdesk.core.models import JobLease, Setting
from helpdesk.mail.models import InboundMail, Mailbox, OutboundMail
from helpdesk.records.models import (
    AuditEntry,
    Enterprise,
    PendingApproval,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)
from helpdesk.sla.models import CalendarDay, CalendarYear, SlaPolicy
from helpdesk.tickets import search as _search  # noqa: F401  (its session listener keeps the index current)
from helpdesk.tickets.models import (
    Attachment,
    Macro,
    Message,
    Notification,
    RetentionRemoval,
    SavedFilter,
    Ticket,
    TicketEvent,
)

__all__ = [
    "Attachment",
    "AuditEntry",
    "CalendarDay",
    "CalendarYear",
    "Enterprise",
    "InboundMail",
    "JobLease",
    "LoginAttempt",
    "Macro",
    "Mailbox",
    "Message",
    "Notification",
    "OutboundMail",
    "PendingApproval",
    "PlatformAccount",
    "ProjectApplication",
    "Qualification",
    "RetentionRemoval",
    "RecoveryCode",
    "Role",
    "SavedFilter",
    "Setting",
    "SlaPolicy",
    "Ticket",
    "TicketEvent",
    "User",
    "UserSession",
]
