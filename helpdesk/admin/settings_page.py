"""The settings page: what supervisors and admins tune, in one place.

Supervisors change the second approval of cancels and (on the SLA pages) the policies; admins see the
mailbox settings too. Settings that live in the environment (the mailbox, mail notices) are shown,
never edited here: they are the operator's, and a password never reaches a page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.records import settings as record_settings
from helpdesk.sla import service as sla_service
from helpdesk.tickets.intake import AUTO_REPLIES_PER_SENDER_PER_DAY
from helpdesk.vocabulary import TYPE_LABELS
from helpdesk.web import requires

#: supervisors and admins: its own blueprint, since every admin page is for admins only
bp = Blueprint("settings", __name__, url_prefix="/settings")

MAILBOX_KEYS = (
    ("HELPDESK_IMAP_HOST", "收件服务器"),
    ("HELPDESK_IMAP_USER", "收件账号"),
    ("HELPDESK_IMAP_FOLDER", "收件文件夹"),
    ("HELPDESK_IMAP_POLL_SECONDS", "轮询间隔（秒）"),
    ("HELPDESK_SMTP_HOST", "发信服务器"),
    ("HELPDESK_SMTP_FROM", "发件地址"),
    ("HELPDESK_NOTIFY_BY_MAIL", "通知也发邮件"),
)


@bp.get("/")
@requires(Role.SUPERVISOR)
def page() -> Any:
    config = current_app.config["HELPDESK"]
    mailbox = (
        [(label, config[key]) for key, label in MAILBOX_KEYS] if current_user.has_role(Role.ADMIN) else []
    )
    return render_template(
        "admin/settings.html",
        second_approval=record_settings.second_approval_required(),
        policies=sla_service.policies(),
        types=TYPE_LABELS,
        auto_reply_limit=AUTO_REPLIES_PER_SENDER_PER_DAY,
        mailbox=mailbox,
    )
