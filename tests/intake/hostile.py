"""Hostile mail made on the spot, for the tests and bench/hostile.py (nothing is committed as a file)."""

from __future__ import annotations

import io
import zlib


def slow_pdf(ops: int = 100_000, pages: int = 20) -> bytes:
    """A ~15 KB PDF whose pages share one content stream of `ops` text operators: text extraction
    takes seconds per page and minutes in all, while the file looks harmless."""
    content = b"BT /F1 1 Tf " + b"(x) Tj 1 0 Td " * ops + b"ET"
    stream = zlib.compress(content, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R /Resources"
        b" << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
    )
    objects += [page] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def nested_html(depth: int = 100_000) -> str:
    """About 2 MB of HTML nested `depth` elements deep."""
    return "<div><span>" * (depth // 2) + "深层嵌套的正文" + "</span></div>" * (depth // 2)


def nested_multipart(depth: int = 5_000, subject: str = "嵌套过深的邮件") -> bytes:
    """A mail of `depth` nested multipart/mixed parts, From and Subject intact."""
    head = (
        "From: 深度测试 <deep@corp-deep.example.cn>\r\nTo: zxzj@ec.com.cn\r\n"
        f"Subject: =?utf-8?b?{__import__('base64').b64encode(subject.encode()).decode()}?=\r\n"
        "Message-ID: <deep-nesting@corp-deep.example.cn>\r\nMIME-Version: 1.0\r\n"
    ).encode()
    parts = []
    for level in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level))
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "最里面的正文".encode() + b"\r\n"
    tail = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(depth)))
    return head + b"".join(parts) + body + tail
