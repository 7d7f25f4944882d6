"""Builders of hostile mails, one per class, sized by a parameter: tests build tiny ones and set tiny
budgets; bench/hostile_parse.py builds the full-size ones of issue 11."""

from __future__ import annotations

import base64

HEAD = (
    b"From: =?UTF-8?B?5byg5LiJ?= <zhangsan@qiye.example.cn>\r\n"
    b"To: letters@zxzj.example.cn\r\n"
    b"Subject: =?UTF-8?B?5YWz5LqO5Y+Y5pu05L+h5oGv55qE5Ye9?=\r\n"  # 关于变更信息的函
    b"Date: Mon, 3 Jun 2024 10:15:00 +0800\r\n"
    b"Message-ID: <hostile@qiye.example.cn>\r\n"
    b"MIME-Version: 1.0\r\n"
)
SENDER = "zhangsan@qiye.example.cn"
SUBJECT = "关于变更信息的函"


def nested_html(size: int, tag: str = "div") -> bytes:
    """An HTML body of `size` bytes of elements nested inside each other, never closed."""
    unit = f"<{tag}>层".encode()
    body = unit * (size // len(unit))
    return HEAD + b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def wide_html(size: int) -> bytes:
    """A large but shallow HTML body (a newsletter): paragraphs one after another."""
    unit = '<p>尊敬的企业：<b>请</b>查看<a href="https://www.example.gov.cn/n">通知</a>。</p>\r\n'.encode()
    body = unit * (size // len(unit))
    return HEAD + b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def text_body(size: int, *, encoding: str = "base64") -> bytes:
    """A text/plain body of about `size` bytes of UTF-8 Chinese text, base64 or 8bit."""
    line = "第{:07d}行：外贸发展专项资金申请材料说明，请审核。\r\n"
    unit_len = len(line.format(0).encode())
    text = "".join(line.format(i) for i in range(size // unit_len)).encode()
    encoded = base64.encodebytes(text).replace(b"\n", b"\r\n") if encoding == "base64" else text
    headers = f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    return HEAD + headers.encode() + encoded


def nested_multiparts(depth: int) -> bytes:
    """`depth` multiparts, each the only child of the one before, with a short text at the bottom."""
    out = [HEAD, b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for level in range(1, depth):
        out.append(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (level - 1, level))
    out.append(b"--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" % (depth - 1))
    out.append("最里面的正文。\r\n".encode())
    for level in range(depth - 1, -1, -1):
        out.append(b"--b%d--\r\n" % level)
    return b"".join(out)


def huge_header_block(lines: int, subject_bytes: int = 0) -> bytes:
    """`lines` Received-style header lines before the real headers, and an optional huge Subject."""
    junk = b"X-Junk: from relay.example.net by mx.example.cn with ESMTP id 0123456789abcdef\r\n" * lines
    head = junk + HEAD
    if subject_bytes:
        head += b"Thread-Topic: " + b"a" * subject_bytes + b"\r\n"
    return head + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "正文。\r\n".encode()


def many_parts(count: int) -> bytes:
    """A multipart/mixed of `count` tiny attachments."""
    out = [HEAD, b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n']
    out.append("--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件。\r\n".encode())
    for index in range(count):
        out.append(
            b'--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="f%d.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" % index
        )
    out.append(b"--m--\r\n")
    return b"".join(out)


def unterminated_tags(count: int) -> bytes:
    """'<a <a <a ...': quadratic for the standard library's HTMLParser."""
    return HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + b"<a " * count
