"""Hostile mail through the whole intake (issue 11, item 4), run by hand.

    PYTHONPATH=. python3 bench/hostile.py                 # every class, SQLite
    PYTHONPATH=. python3 bench/hostile.py slow_pdf        # one class

Each mail goes through `intake.import_eml` exactly as `helpdesk import-eml` does: stored, claimed,
read in the sandbox (deadline HELPDESK_PARSE_SECONDS, default 8 s; memory cap), ticket made. Printed
per class: wall time from the bytes to the committed ticket, peak resident memory of the whole
process tree (this process plus the sandbox workers, sampled every 20 ms from /proc), the time to
render the ticket page for a logged-in agent, and what the ticket says. Aims on this 2-core machine:
ticket under 10 s, peak under 500 MB, page under 1 s. (bench/hostile_parse.py measures parse_mail
alone, each class in a fresh process.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from helpdesk import bootstrap, create_app, db  # noqa: E402
from helpdesk.auth import services as auth_services  # noqa: E402
from helpdesk.auth.models import Role  # noqa: E402
from helpdesk.tickets import intake  # noqa: E402
from helpdesk.tickets.models import Attachment, Ticket  # noqa: E402
from tests.conftest import login  # noqa: E402
from tests.intake import hostile as pdfs  # noqa: E402
from tests.intake.conftest import make_mail  # noqa: E402
from tests.mail import hostile  # noqa: E402

MB = 1024 * 1024
CLASSES = {
    "slow_pdf": lambda: make_mail(
        subject="解绑说明",
        sender="slow@corp-pdf.example.cn",
        body="附件是解绑说明。",
        attachments=[("解绑说明.pdf", "application/pdf", pdfs.slow_pdf())],
    ),
    "nested_html_2mb": lambda: hostile.nested_html(2 * MB),
    "nested_ul_1mb": lambda: hostile.nested_html(1 * MB, "ul"),
    "unterminated_a": lambda: hostile.unterminated_tags(100_000),
    "text_30mb": lambda: hostile.text_body(30 * MB),
    "nested_multiparts_5000": lambda: hostile.nested_multiparts(5_000),
    "header_block_20mb": lambda: hostile.huge_header_block(250_000),
    "attachments_20000": lambda: hostile.many_parts(20_000),
}


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every descendant."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(
                line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, tree_rss(os.getpid()))


def main(argv: list[str]) -> int:
    names = argv or list(CLASSES)
    work = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    app = create_app(
        overrides={
            "HELPDESK_DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "HELPDESK_INSTANCE_DIR": str(work),
            "HELPDESK_SECRET_KEY": "bench",
        }
    )
    app.config.update(TESTING=True)
    print(f"{'class':24} {'raw MB':>7} {'ticket s':>9} {'peak MB':>8} {'page s':>7}  ok  outcome")
    with app.app_context():
        bootstrap.init_database()
        auth_services.create_user("bench", "bench-pass-2026", Role.AGENT)
        client = app.test_client()
        login(client, "bench", "bench-pass-2026")
        intake.import_eml(make_mail(subject="预热", sender="warm@corp.example.cn"))  # sandbox started
        for name in names:
            raw = CLASSES[name]()
            sampler = PeakSampler()
            sampler.start()
            started = time.perf_counter()
            result = intake.import_eml(raw)
            wall = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
            db.session.expire_all()
            ticket = db.session.get(Ticket, result.ticket_id) if result.ticket_id else None
            page_s = float("nan")
            if ticket is not None:
                started = time.perf_counter()
                page = client.get(f"/tickets/{ticket.id}")
                page_s = time.perf_counter() - started
                assert page.status_code == 200, page.status_code
            names_ = db.session.scalars(
                select(Attachment.original_name).where(Attachment.ticket_id == result.ticket_id)
            ).all()
            peak = max(sampler.peak, tree_rss(os.getpid())) / MB
            ok = wall < 10 and peak < 500 and page_s < 1 and ticket is not None
            print(
                f"{name:24} {len(raw) / MB:7.1f} {wall:9.2f} {peak:8.0f} {page_s:7.2f}  "
                f"{'yes' if ok else 'NO '} {result.outcome}"
            )
            if ticket is not None:
                print(f"{'':24} from={ticket.requester_email} subject={ticket.subject[:40]!r}")
                print(f"{'':24} attachments={len(names_)} ({', '.join(sorted(set(names_))[:4])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
