"""The outbox marks a mail sent the moment the SMTP server has taken it, before the goodbye.

The chaos run (test_chaos.py) saw a worker SIGKILLed after the server's 250 and before the outbox's
commit: the same mail was handed over again once its claim expired. That window cannot be closed
with SMTP, but it must not include the QUIT round trip. A small SMTP responder on loopback looks at
the row when the client says QUIT: it is already marked sent.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from sqlalchemy import select

from helpdesk.db import session, unit_of_work
from helpdesk.mail import outbox
from helpdesk.mail.models import OutboundMail


def answer_smtp(listener: socket.socket, at_quit: Any, seen: list[bool]) -> None:
    """Speak just enough SMTP for one mail; at QUIT, record what `at_quit()` says."""
    conn, _ = listener.accept()
    with conn, conn.makefile("rb") as lines:
        conn.sendall(b"220 window.test ESMTP\r\n")
        for line in lines:
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                for body_line in lines:
                    if body_line == b".\r\n":
                        break
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                seen.append(at_quit())
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:  # EHLO, MAIL, RCPT
                conn.sendall(b"250 window.test\r\n")


def test_a_mail_is_marked_sent_before_the_goodbye(app: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(outbox, "OBSERVERS", [])
    with unit_of_work():
        row = OutboundMail(
            to_addr="a@example.com", subject="回复：咨询", body_text="您好", message_id="w1@ops.test"
        )
        session.add(row)
    row_id = row.id

    def marked_sent() -> bool:
        with app.app_context():  # another thread, its own session: what is committed
            try:
                return (
                    session.scalar(select(OutboundMail.sent_at).where(OutboundMail.id == row_id)) is not None
                )
            finally:
                session.remove()

    seen: list[bool] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=answer_smtp, args=(listener, marked_sent, seen), daemon=True)
        server.start()
        settings = outbox.SmtpSettings(
            host="127.0.0.1", port=listener.getsockname()[1], security="none", sender="zxzj@ec.com.cn"
        )
        assert outbox.send_next(settings) is True
        server.join(10)
    assert seen == [True]  # at QUIT the row was already marked sent
    session.expire_all()
    sent = session.get(OutboundMail, row_id)
    assert sent.sent_at is not None and sent.attempts == 1 and sent.claimed_at is None
