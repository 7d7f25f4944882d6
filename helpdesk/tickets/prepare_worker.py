"""Preloaded by the intake worker processes (forkserver): the modules `reading.prepare` needs."""

import helpdesk.letters  # noqa: F401
import helpdesk.mail.parse  # noqa: F401
import helpdesk.tickets.intake  # noqa: F401
