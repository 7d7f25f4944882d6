"""Hostile mails against parse_mail()'s budgets (issue 11, item 4), run by hand.

    PYTHONPATH=. python3 bench/hostile_parse.py            # every class
    PYTHONPATH=. python3 bench/hostile_parse.py text_30mb  # one class

Each class is built by tests/mail/hostile.py, written to a temporary file and parsed in a fresh
process, so that the peak memory (VmHWM of /proc/self/status: ru_maxrss would include the parent's,
it survives exec) is the parse's alone: "+MB" is the peak minus
the resident size just before parse_mail() was called (the raw bytes are already in memory). The
same child then times sanitize_html() on the body's HTML where the class has one (after the parse, so
"peak MB" covers both), and times the
ticket page's part: the 200 KB text preview and the stored HTML wrapped for the iframe. Aims (issue
11): parse under 10 s and under 500 MB on this 2-core machine; the page part under 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mail import hostile  # noqa: E402

MB = 1024 * 1024
CLASSES = {
    "nested_html_2mb": lambda: hostile.nested_html(2 * MB),
    "nested_list_html_1mb": lambda: hostile.nested_html(1 * MB, tag="ul><li"),
    "wide_html_4mb": lambda: hostile.wide_html(4 * MB),
    "wide_html_30mb": lambda: hostile.wide_html(30 * MB),
    "unterminated_tags_300kb": lambda: hostile.unterminated_tags(100_000),
    "text_30mb_base64": lambda: hostile.text_body(30 * MB),
    "text_30mb_8bit": lambda: hostile.text_body(30 * MB, encoding="8bit"),
    "nested_multipart_5000": lambda: hostile.nested_multiparts(5000),
    "nested_multipart_50000": lambda: hostile.nested_multiparts(50_000),
    "huge_header_block_20mb": lambda: hostile.huge_header_block(250_000),
    "huge_header_value_5mb": lambda: hostile.huge_header_block(0, subject_bytes=5 * MB),
    "many_parts_20000": lambda: hostile.many_parts(20_000),
}

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
from helpdesk.mail.parse import parse_mail
from helpdesk.mail import html as mail_html
raw = open(sys.argv[1], "rb").read()

def status_mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

before = status_mb("VmRSS:")
t = time.perf_counter()
mail = parse_mail(raw)
parse_s = time.perf_counter() - t
peak = status_mb("VmHWM:")
sanitize_s = None
if b"text/html" in raw[:2000]:  # the classes with an HTML body: sanitise that body on its own
    body = raw.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")
    t = time.perf_counter()
    mail_html.sanitize_html(body)
    sanitize_s = time.perf_counter() - t
t = time.perf_counter()
preview = mail.text[:200_000]
document = mail_html.MAIL_DOC_HEAD + mail.html + "</body></html>"
from markupsafe import escape
shown = len(escape(preview)) + len(escape(document))
page_s = time.perf_counter() - t
print(json.dumps({
    "parse_s": parse_s, "parse_mb": peak - before, "peak_mb": peak, "sanitize_s": sanitize_s, "page_s": page_s,
    "sender": mail.sender, "subject": mail.subject[:20], "text_chars": len(mail.text), "html_chars": len(mail.html),
    "attachments": [a.filename for a in mail.attachments][:3] + (["..."] if len(mail.attachments) > 3 else []),
    "defects": [d[:60] for d in mail.defects][:4],
}))
"""


def run(name: str) -> dict[str, object]:
    raw = CLASSES[name]()
    with tempfile.NamedTemporaryFile(suffix=".eml") as f:
        f.write(raw)
        f.flush()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, f.name, str(ROOT)], capture_output=True, text=True, timeout=900
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"name": name, "raw_mb": len(raw) / MB, "error": done.stderr.strip().splitlines()[-1:]}
    return {"name": name, "raw_mb": len(raw) / MB, "child_s": wall, **json.loads(done.stdout)}


def main(argv: list[str]) -> int:
    names = argv or list(CLASSES)
    print(
        f"{'class':26} {'raw MB':>7} {'parse s':>8} {'+MB':>7} {'peak MB':>8} {'clean s':>8} {'page s':>7}  ok"
    )
    for name in names:
        r = run(name)
        if "error" in r:
            print(f"{name:26} {r['raw_mb']:7.1f}  FAILED {r['error']}")
            continue
        ok = r["parse_s"] < 10 and r["peak_mb"] < 500 and r["page_s"] < 1 and r["sender"] == hostile.SENDER
        clean = "-" if r["sanitize_s"] is None else f"{r['sanitize_s']:.2f}"
        print(
            f"{name:26} {r['raw_mb']:7.1f} {r['parse_s']:8.2f} {r['parse_mb']:7.0f} {r['peak_mb']:8.0f} "
            f"{clean:>8} {r['page_s']:7.2f}  {'yes' if ok else 'NO'}"
        )
        print(
            f"{'':26} sender={r['sender']} subject={r['subject']!r} text={r['text_chars']} html={r['html_chars']}"
        )
        print(f"{'':26} attachments={r['attachments']} defects={r['defects']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
