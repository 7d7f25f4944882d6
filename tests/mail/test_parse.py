"""parse_mail(): golden mails, Chinese charset lies, limits, and never raising."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpdesk.mail import html as mail_html
from helpdesk.mail import mime as mime_module
from helpdesk.mail import parse as parse_module
from helpdesk.mail.html import html_to_text, sanitize_html
from helpdesk.mail.parse import parse_mail
from helpdesk.mail.parsed import ParsedMail
from tests.mail import hostile
from tests.mail.make_goldens import MALICIOUS_HTML, OPTIONS, build_all, to_jsonable

DATA = Path(__file__).parent / "data"
GOLDENS = sorted(DATA.glob("*.eml"))


def golden(name: str) -> ParsedMail:
    return parse_mail((DATA / f"{name}.eml").read_bytes(), **OPTIONS.get(name, {}))


def test_golden_inputs_match_the_generator():
    built = build_all()
    assert len(built) >= 30
    assert sorted(built) == [p.stem for p in GOLDENS]
    for name, raw in built.items():
        assert (DATA / f"{name}.eml").read_bytes() == raw, f"{name}.eml is stale: run make_goldens.py"
    assert all(p.stat().st_size < 200_000 for p in DATA.iterdir())


@pytest.mark.parametrize("eml", GOLDENS, ids=lambda p: p.stem)
def test_parse_matches_golden(eml: Path):
    expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    assert to_jsonable(golden(eml.stem)) == expected


@pytest.mark.parametrize("eml", GOLDENS, ids=lambda p: p.stem)
def test_goldens_decode_without_replacement_characters(eml: Path):
    mail = golden(eml.stem)
    shown = [mail.subject, mail.sender_name, mail.text, mail.html, *(a.filename for a in mail.attachments)]
    assert not any("\ufffd" in s or "\x00" in s for s in shown)


def test_gbk_only_characters_in_a_gb2312_part_survive():
    mail = golden("002-gb2312-label-gbk-text")
    assert "朱镕基" in mail.subject and "陶喆" in mail.subject
    assert "朱镕基、陶喆" in mail.text
    assert mail.defects == ("字符集 gb2312 声明与内容不符，已按 GB18030 解码",)


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("003-raw-8bit-gbk-subject", "关于申请变更企业信息的函（镕）"),
        ("004-raw-8bit-utf8-subject", "关于申请变更企业信息的函（喆）"),
        ("009-rfc2047-b-mixed-charsets", "申请资金拨付 (2024) 進度查詢"),
        ("011-split-encoded-words", "中小企业国际市场开拓资金 / 镕喆资金申请"),
    ],
)
def test_subjects_decode(name: str, subject: str):
    assert golden(name).subject == subject


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("005-raw-8bit-gbk-filename", "誠信承诺书（盖章）.pdf"),  # GBK trail byte 0x5C is not an escape
        ("006-raw-8bit-utf8-filename", "营业执照副本.pdf"),
        ("007-rfc2231-utf8-continuations", "关于申请变更企业信息的函.docx"),  # beats the plain filename=
        ("008-rfc2231-gb18030-continuations", "刘䶮与𠮷野家的授权书.pdf"),
        ("036-outlook-name-only", "申请函.doc"),  # path components stripped
    ],
)
def test_attachment_names_decode(name: str, filename: str):
    assert [a.filename for a in golden(name).attachments] == [filename]


def test_gbk_trail_byte_that_reads_as_a_backslash_keeps_the_sender():
    mail = golden("044-raw-gbk-sender-with-backslash-byte")
    assert (mail.sender_name, mail.sender) == ("誠信进出口有限公司", "office@chengxin.example.cn")
    assert mail.cc == ("boss@chengxin.example.cn",)


def _encoded_words(data: bytes, rng: random.Random) -> str:
    """`data` as 1-4 RFC 2047 words, split at random bytes (inside characters too), B or Q, GBK labels."""
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, min(3, len(data) - 1))))
    words = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        label = rng.choice(["gb2312", "GBK", "GB18030", "cp936", "x-gbk"])
        chunk = data[start:end]
        if rng.random() < 0.5:
            words.append(f"=?{label}?B?{base64.b64encode(chunk).decode()}?=")
        else:
            words.append(f"=?{label}?Q?{''.join(f'={b:02X}' for b in chunk)}?=")
    return "".join(rng.choice([" ", "\r\n ", "\r\n\t", "  "]) + w for w in words).strip()


def test_random_gbk_subjects_all_decode():
    """GBK text under GBK-family labels, split anywhere, B or Q, or raw: all 1,200 decode exactly.

    (email.header.decode_header gets 703 of the 800 encoded ones wrong: it trusts "gb2312".)
    """
    rng = random.Random(20240603)
    for _ in range(400):
        subject = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(8, 30))) + "镕喆"
        data = subject.encode("gbk")
        for header in (
            f"=?gb2312?B?{base64.b64encode(data).decode()}?=".encode(),
            _encoded_words(data, rng).encode(),
            data,  # raw 8-bit
        ):
            assert parse_mail(b"Subject: " + header + b"\r\n\r\n").subject == subject, header


def test_sanitised_html_keeps_no_active_content():
    html = golden("016-html-only-malicious").html
    lowered = html.lower()
    for bad in (
        "<script",
        "onerror",
        "onload",
        "onclick",
        "javascript:",
        "<iframe",
        "<object",
        "<form",
        "<style",
        "position",
        "tracker.example",
        "evil.example",
        "<title",
    ):
        assert bad not in lowered
    assert 'src="cid:seal@qiye"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<table" in html and 'href="https://www.example.gov.cn/notice?id=1&amp;x=2"' in html


def test_html_only_mail_gets_a_text_version():
    text = golden("016-html-only-malicious").text
    assert text.startswith("尊敬的老师：\n\n请点击这里或通知。")
    assert "alert" not in text and "标题不应出现" not in text and "企业名称\t某某进出口有限公司" in text
    assert html_to_text(MALICIOUS_HTML) == text


def test_sanitize_html_drops_remote_images_and_keeps_formatting():
    html = sanitize_html(
        '<p><b>粗体</b><img src="https://x.example/a.png"><a href="mailto:a@b.cn">邮件</a></p>'
    )
    assert (
        html
        == '<p><b>粗体</b><a href="mailto:a@b.cn" target="_blank" rel="noopener noreferrer nofollow">邮件</a></p>'
    )


def test_forwarded_mails_contribute_text_and_attachments():
    mail = golden("015-nested-forward")
    assert mail.text.count("---------- 转发的邮件 ----------") == 2
    assert "发件人: 赵磊 <zhaolei@qiye.example.cn>" in mail.text and "特此函告。" in mail.text
    assert [a.filename for a in mail.attachments] == ["申请表.docx"]
    assert mail.attachments[0].data.startswith(b"PK")


def test_winmail_dat_is_expanded_into_its_files():
    mail = golden("030-winmail-dat")
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("申请表.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("scan.pdf", "application/pdf"),
    ]


def test_undecodable_winmail_dat_is_kept():
    mail = golden("031-tnef-undecodable")
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert mail.attachments[0].data.startswith(b"PK")


def test_dsn_of_our_mail_is_a_bounce_with_the_original_id():
    mail = golden("025-dsn-bounce")
    assert mail.is_bounce and mail.auto_generated
    assert mail.original_message_id == "ack-123@zxzj.example.cn"
    assert golden("026-dsn-rfc822-headers").original_message_id == "ack-124@zxzj.example.cn"


def test_read_receipt_is_automatic_but_not_a_bounce():
    mail = golden("039-read-receipt")
    assert mail.auto_reasons == ("report: disposition-notification",) and not mail.is_bounce


def test_missing_message_id_is_the_hash_of_the_raw_bytes():
    raw = (DATA / "018-no-message-id.eml").read_bytes()
    assert parse_mail(raw).message_id == parse_mail(raw).message_id
    assert parse_mail(raw).message_id.startswith("sha256:") and len(parse_mail(raw).message_id) == 7 + 64


def _mail_with_attachments(*sizes: int) -> bytes:
    parts = [b"From: a@b.cn\r\nMessage-ID: <big@b.cn>\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"]
    for index, size in enumerate(sizes):
        parts.append(
            b"--X\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="f%d.pdf"\r\n\r\n' % index
        )
        line = b"QUFB" * 19 + b"\r\n"  # 57 decoded bytes per line
        parts.append(line * (size // 57))
    parts.append(b"--X--\r\n")
    return b"".join(parts)


def test_attachment_over_20_mb_is_kept_without_data():
    mail = parse_mail(_mail_with_attachments(21 * 1024 * 1024, 57 * 10))
    big, small = mail.attachments
    assert (big.filename, big.data, big.problem) == ("f0.pdf", b"", "oversize")
    assert big.declared_size == (21 * 1024 * 1024 // 57) * 57
    assert small.problem is None and small.size == 570
    assert any("超过单个附件上限" in d for d in mail.defects)


def test_attachments_past_the_total_limit_are_kept_without_data():
    mail = parse_mail(_mail_with_attachments(570, 570, 570), max_attachment_bytes=1000, max_total_bytes=1200)
    assert [a.problem for a in mail.attachments] == [None, None, "oversize"]
    assert mail.attachments[2].declared_size == 570


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"\x00\xff" * 100,
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
        b"Subject: =?x?B?====?= =?utf-8?Q?=ZZ?=\r\nDate: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\nx",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 200,
        b'From: <>\r\nTo: ,,,;;<<>>\r\nReferences: <<<>>>\r\nContent-Type: text/plain; charset="\r\n\r\nx',
        b"Content-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgEAAQ==",
    ],
)
def test_hostile_input_never_raises(raw: bytes):
    assert isinstance(parse_mail(raw), ParsedMail)


def _mutations(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        if not data:
            data += rng.randbytes(rng.randint(1, 40))
            continue
        at = rng.randrange(len(data))
        kind = rng.randrange(5)
        if kind == 0:
            data[at] = rng.randrange(256)
        elif kind == 1:
            del data[at : at + rng.randint(1, 200)]
        elif kind == 2:
            data[at:at] = rng.choice(
                [b"\r\n", b"--", b"=?", b"?=", b";", b'"', b"\\", b"\x00", b"=\r\n", b"\xff"]
            )
        elif kind == 3:
            data[at:at] = data[rng.randrange(len(data)) :][: rng.randint(1, 300)]
        else:
            del data[at:]
    return bytes(data)


@pytest.mark.parametrize("eml", GOLDENS, ids=lambda p: p.stem)
def test_mutated_goldens_never_raise(eml: Path):
    rng = random.Random(eml.stem)  # deterministic per file: a failure reproduces
    raw = eml.read_bytes()
    for _ in range(40):
        mail = parse_mail(_mutations(raw, rng))
        assert isinstance(mail, ParsedMail) and "\x00" not in mail.text


def test_an_internal_error_degrades_to_headers_and_the_raw_body(monkeypatch: pytest.MonkeyPatch):
    def explode(*args: object) -> ParsedMail:
        raise RuntimeError("bug")

    monkeypatch.setattr(parse_module, "_parse", explode)
    raw = "From: 张三 <a@b.cn>\r\nSubject: x\r\n\r\n中文正文".encode("gbk")
    mail = parse_mail(raw)
    assert (mail.sender, mail.sender_name, mail.subject, mail.text) == ("a@b.cn", "张三", "x", "中文正文")
    assert (
        mail.defects[0]
        == "邮件无法解析（RuntimeError）：正文按原文显示，原始邮件已作为附件 original.eml 保留"
    )
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("original.eml", "message/rfc822", raw)
    ]
    assert mail.message_id.startswith("sha256:")


def test_a_broken_part_is_kept_and_the_rest_parsed(monkeypatch: pytest.MonkeyPatch):
    real_leaf = mime_module._leaf

    def leaf(part, info, st, body):  # type: ignore[no-untyped-def]
        if info.content_type == "application/pdf":
            raise ValueError("broken")
        real_leaf(part, info, st, body)

    monkeypatch.setattr(mime_module, "_leaf", leaf)
    mail = golden("006-raw-8bit-utf8-filename")
    assert mail.text == "见附件。"
    assert [(a.content_type, a.problem) for a in mail.attachments] == [("message/rfc822", "unparsed")]
    assert "一个 MIME 部分无法解析（ValueError），已作为附件保留" in mail.defects


# ---------------------------------------------------------------------------------- decoding (issue 11, item 7)


@pytest.mark.parametrize(
    ("name", "subject", "text", "sender_name"),
    [
        (
            "045-iso-2022-jp",
            "お問い合わせ：申請書について",
            "申請書を添付しました。\nよろしくお願いいたします。",
            "山田太郎",
        ),
        ("046-iso-2022-kr", "신청서 문의", "신청서를 첨부합니다.", "Li Ming"),
        (
            "047-iso-2022-cn",
            "关于变更联系人的函",
            "外贸发展专项资金管理办公室：\n我司申请变更联系人。",
            "Li Ming",
        ),
    ],
)
def test_iso_2022_headers_and_bodies_decode(name: str, subject: str, text: str, sender_name: str):
    mail = golden(name)
    assert (mail.subject, mail.text, mail.sender_name) == (subject, text, sender_name)
    assert "\x1b" not in mail.subject + mail.text + mail.sender_name


def test_a_stray_line_in_the_header_block_does_not_end_it():
    mail = golden("048-stray-line-in-header-block")
    assert (mail.sender, mail.subject, mail.message_id) == (
        "liming@qiye.example.cn",
        "变更说明（联系人）",
        "048@qiye.example.cn",
    )
    assert mail.to == ("letters@zxzj.example.cn", "wangfang@qiye.example.cn")  # the stray line was a fold
    assert mail.text == "附件是变更说明。"


def test_a_body_without_blank_line_is_not_read_as_headers():
    raw = (
        b"From: a@b.cn\r\nSubject: hi\r\nthis is the body\r\nand more\r\nbody\r\nstill body\r\nNote: line\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.sender, mail.subject) == ("a@b.cn", "hi")
    assert "this is the body" in mail.text  # no field within three lines: the block really ended


@pytest.mark.parametrize(
    ("name", "sender_name", "subject"),
    [
        ("049-raw-shift-jis-headers", "山田太郎", "申請書の件"),  # was 嶳揷懢榊 (read as GB18030)
        ("050-raw-latin1-headers", "François Müller", "Demande de modification"),  # was Fran鏾is M黮ler
    ],
)
def test_raw_header_bytes_use_the_declared_charset_first(name: str, sender_name: str, subject: str):
    mail = golden(name)
    assert (mail.sender_name, mail.subject) == (sender_name, subject)


def test_raw_gbk_headers_in_a_latin1_mail_still_read_as_chinese():
    raw = (
        "From: 张三丰 <a@b.cn>\r\nSubject: 关于申请变更企业信息的函\r\n".encode("gbk")
        + b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nx"
    )
    mail = parse_mail(raw)
    assert (mail.sender_name, mail.subject) == ("张三丰", "关于申请变更企业信息的函")


def test_sender_falls_back_from_reply_to_sender_return_path():
    assert golden("051-reply-to-when-from-is-empty").sender == "wangfang@qiye.example.cn"
    assert parse_mail(b"Sender: s@b.cn\r\nReturn-Path: <r@b.cn>\r\n\r\nx").sender == "s@b.cn"
    assert parse_mail(b"From: \r\nReturn-Path: <r@b.cn>\r\n\r\nx").sender == "r@b.cn"
    assert parse_mail(b"From: f@b.cn\r\nReply-To: t@b.cn\r\n\r\nx").sender == "f@b.cn"


def test_forwarded_mail_sent_as_a_file_is_kept_and_still_shown():
    mail = golden("052-rfc822-attachment-with-a-name")
    (eml,) = mail.attachments
    assert (eml.filename, eml.content_type) == ("原始来函.eml", "message/rfc822")
    assert b"Message-ID: <orig-052@qiye.example.cn>" in eml.data
    assert "---------- 转发的邮件 ----------" in mail.text and "特此函告。" in mail.text
    forwarded = golden("014-forward-with-attachment")
    assert [a.filename for a in forwarded.attachments] == ["forwarded.eml", "盖章函.pdf"]
    assert [a.filename for a in golden("015-nested-forward").attachments] == [
        "申请表.docx"
    ]  # inline forwards


def test_long_subject_is_kept_whole():
    from tests.mail.make_goldens import LONG_SUBJECT

    assert golden("053-long-subject").subject == LONG_SUBJECT and len(LONG_SUBJECT) > 500


# ---------------------------------------------------------------------------------- header values (item 5)

LINE_BREAKS = {
    "CR": "\r",
    "LF": "\n",
    "CRLF": "\r\n",
    "VT": "\x0b",
    "FF": "\x0c",
    "FS": "\x1c",
    "GS": "\x1d",
    "RS": "\x1e",
    "NEL": "\x85",
    "LINE SEPARATOR": "\u2028",
    "PARAGRAPH SEPARATOR": "\u2029",
}


def _bare(value: str) -> bool:
    """No line break of any class and no control character."""
    return value.splitlines() in ([value], []) and not any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in value)


@pytest.mark.parametrize("char", LINE_BREAKS.values(), ids=LINE_BREAKS.keys())
def test_every_line_break_class_is_removed_from_header_values(char: str):
    def word(text: str) -> str:
        return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="

    raw = (
        f"From: {word('张' + char + '三')} <a@b.cn>\r\n"
        f"To: {word('王' + char + '芳')} <c@d.cn>\r\n"
        f"Subject: {word('申请' + char + 'Bcc: x@evil.example')}\r\n"
        f"Message-ID: <{word('id' + char + 'x')}@b.cn>\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\n正文\r\n"
        f'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="{word("函" + char + "件.pdf")}"\r\n'
        f"Content-ID: <{word('c' + char + 'id')}>\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.subject == "申请 Bcc: x@evil.example" and mail.sender_name == "张 三"
    values = [mail.subject, mail.sender_name, mail.sender, mail.message_id, *mail.to, *mail.defects]
    values += [v for a in mail.attachments for v in (a.filename, a.content_type, a.content_id or "")]
    assert all(_bare(v) for v in values), values
    assert [a.filename for a in mail.attachments] == ["函 件.pdf"]


def test_control_characters_are_removed_from_header_values():
    mail = parse_mail(
        "Subject: =?UTF-8?B?{}?=\r\n\r\nx".format(
            base64.b64encode("a\x00b\x07c\x9bd".encode()).decode()
        ).encode()
    )
    assert mail.subject == "abcd"


def test_golden_with_line_breaks_in_headers_is_clean():
    mail = golden("054-line-breaks-in-header-values")
    assert mail.subject == "第一行 Bcc: victim@example.com 第三行 结束"
    assert mail.sender_name == "李 明" and [a.filename for a in mail.attachments] == ["函 件 .pdf"]


# ---------------------------------------------------------------------------------- budgets (item 4)


def test_html_over_the_depth_budget_keeps_the_text_and_attaches_the_original(monkeypatch):
    monkeypatch.setattr(mail_html, "MAX_HTML_DEPTH", 20)
    raw = hostile.nested_html(2_000)
    mail = parse_mail(raw)
    assert (mail.sender, mail.subject) == (hostile.SENDER, hostile.SUBJECT)
    assert mail.html == "" and mail.text.startswith("层\n层\n层")  # the text, one line per <div>
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("original.eml", "message/rfc822", raw)
    ]
    assert mail.defects == (
        "HTML 正文嵌套过深（超过 20 层），只显示纯文本，原始邮件已作为附件 original.eml 保留",
    )


def test_html_within_the_depth_budget_is_sanitised(monkeypatch):
    monkeypatch.setattr(mail_html, "MAX_HTML_DEPTH", 20)
    mail = parse_mail(hostile.HEAD + b"Content-Type: text/html\r\n\r\n" + b"<div>x" * 15)
    assert mail.html.count("<div>") == 15 and mail.attachments == () and mail.defects == ()


def test_html_over_the_size_budget_keeps_the_text_without_parsing_it(monkeypatch):
    monkeypatch.setattr(mail_html, "MAX_HTML_CHARS", 1_000)
    raw = hostile.wide_html(5_000)
    mail = parse_mail(raw)
    assert mail.html == "" and "尊敬的企业：请查看通知。\n" in mail.text and "<" not in mail.text
    assert mail.attachments[-1].filename == "original.eml"
    assert mail.defects[0].startswith("HTML 正文过大（")


def test_unclosed_list_items_do_not_count_as_depth():
    assert mail_html.nesting_depth("<ul>" + "<li>x" * 5_000 + "<p>y" * 5_000) == 1
    assert mail_html.nesting_depth("<ul><li>" * 50 + "</b>" * 50) == 50  # stray end tags hide nothing


def test_htmlparser_only_reads_well_formed_markup(monkeypatch):
    # HTMLParser takes ~12 s for 24 KB of "<a "; it only ever sees nh3's output
    fed: list[str] = []
    real_feed = mail_html._TextExtractor.feed
    monkeypatch.setattr(
        mail_html._TextExtractor, "feed", lambda self, data: fed.append(data) or real_feed(self, data)
    )
    assert html_to_text("<p>开头</p>" + "<a " * 300 + "x") == "开头"
    assert fed and "<a " not in fed[0]


def test_mime_nesting_too_deep_for_the_stdlib_parser_keeps_sender_subject_and_original():
    raw = hostile.nested_multiparts(5_000)
    mail = parse_mail(raw)
    assert (mail.sender, mail.sender_name, mail.subject) == (hostile.SENDER, "张三", hostile.SUBJECT)
    assert mail.message_id == "hostile@qiye.example.cn" and "最里面的正文。" in mail.text
    assert [(a.filename, a.data) for a in mail.attachments] == [("original.eml", raw)]
    assert (
        mail.defects[0]
        == "MIME 嵌套过深，邮件结构无法解析：正文按原文显示，原始邮件已作为附件 original.eml 保留"
    )


def test_header_block_over_budget_keeps_the_fields_we_read():
    raw = hostile.huge_header_block(2_000)  # ~160 KB of junk before the real headers
    mail = parse_mail(raw, max_header_bytes=8_000)
    assert (mail.sender, mail.subject, mail.text) == (hostile.SENDER, hostile.SUBJECT, "正文。")
    assert mail.attachments[-1].filename == "original.eml" and mail.attachments[-1].data == raw
    assert mail.defects[0].startswith("邮件头过大（") and "上限 8000" in mail.defects[0]


def test_a_single_huge_header_field_is_cut():
    raw = b"From: a@b.cn\r\nSubject: " + b"x" * 50_000 + b"\r\n\r\nbody"
    mail = parse_mail(raw, max_header_bytes=40_000)
    assert mail.sender == "a@b.cn" and mail.subject == "x" * (10_000 - len("Subject: "))
    assert mail.text == "body" and mail.attachments[-1].filename == "original.eml"


def test_a_long_text_body_is_kept_whole():
    raw = hostile.text_body(3_000_000)
    mail = parse_mail(raw)
    assert (
        mail.text.startswith("第0000000行") and mail.text.endswith("请审核。") and len(mail.text) > 1_000_000
    )
    assert mail.attachments == () and mail.defects == ()


def test_a_30_mb_text_body_parses_within_400_mb_of_address_space():
    """RLIMIT_AS caps the child: a parse that copied the body five times would die of MemoryError."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.mail import hostile
        from helpdesk.mail.parse import parse_mail
        raw = hostile.text_body(30 * 1024 * 1024)
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 400 * 1024 * 1024, resource.RLIM_INFINITY))
        mail = parse_mail(raw)
        print(len(mail.text), mail.sender, mail.defects)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    length, sender, defects = done.stdout.split(" ", 2)
    assert int(length) > 12_000_000 and sender == hostile.SENDER and defects.strip() == "()"
