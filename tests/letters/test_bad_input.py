"""read() never raises: every hostile or broken attachment gives a finding, and the Letter."""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile
import zlib

import pytest

from helpdesk.letters import Letter, read, sniff
from helpdesk.letters.office import rtf_to_text
from helpdesk.letters.sources import MAX_ZIP_TOTAL
from helpdesk.mail.parsed import MailAttachment
from tests.letters.make_letters import TODAY, docx_bytes, letter, make_mail, text_pdf


def problems(got: Letter) -> list[str]:
    return [f.message for f in got.findings if f.code == "attachment_problem"]


def read_one(name: str, data: bytes, **kw) -> Letter:
    started = time.perf_counter()
    got = read(make_mail(subject="解绑申请", attachments=[(name, data)]), today=TODAY, **kw)
    assert time.perf_counter() - started < 20
    assert isinstance(got, Letter)
    assert got.finding("internal_error") is None
    return got


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width x height (the pixels are never there)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def zip_bomb(members: dict[str, bytes], bomb_name: str, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        with z.open(bomb_name, "w", force_zip64=True) as f:
            block = b"\x00" * (1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return buf.getvalue()


def test_corrupt_docx():
    data = docx_bytes(letter("unbind", random.Random(1))[0])
    broken = data[:200] + b"\x00" * 50 + data[250 : len(data) // 2]
    got = read_one("解绑说明.docx", broken)
    assert problems(got) and ("损坏" in problems(got)[0] or "无法" in problems(got)[0])


def test_docx_whose_document_xml_is_garbage():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<nonsense")
        z.writestr("word/document.xml", "<<<not xml")
    got = read_one("a.docx", buf.getvalue())
    assert sniff(buf.getvalue()) == "docx"
    assert "Word 文档已损坏" in problems(got)[0]


def test_zip_bomb_inside_a_docx_is_not_opened():
    data = zip_bomb(
        {"word/document.xml": "<w:document/>"}, "word/media/image1.png", MAX_ZIP_TOTAL + (8 << 20)
    )
    assert len(data) < 1_000_000
    got = read_one("解绑说明.docx", data)
    assert any("炸弹" in p for p in problems(got))


def test_zip_bomb_inside_an_ofd_is_not_opened():
    data = zip_bomb({"OFD.xml": "<ofd:OFD/>"}, "Doc_0/Pages/Page_0/Content.xml", MAX_ZIP_TOTAL + (8 << 20))
    assert sniff(data) == "ofd"
    got = read_one("说明.ofd", data)
    assert any("炸弹" in p for p in problems(got))


def test_ofd_text_is_read():
    page = (
        '<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer>'
        '<ofd:TextObject Boundary="10 10 100 5"><ofd:TextCode X="0" Y="4">注销说明</ofd:TextCode></ofd:TextObject>'
        '<ofd:TextObject Boundary="10 20 100 5"><ofd:TextCode X="0" Y="4">外贸发展专项资金（中小）网络管理应用项目组：</ofd:TextCode></ofd:TextObject>'
        '<ofd:TextObject Boundary="10 30 100 5"><ofd:TextCode X="0" Y="4">我司申请注销账号zxkt_abc01。特此说明！</ofd:TextCode></ofd:TextObject>'
        "</ofd:Layer></ofd:Content></ofd:Page>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("OFD.xml", "<ofd:OFD/>")
        z.writestr("Doc_0/Pages/Page_0/Content.xml", page)
    got = read_one("注销说明.ofd", buf.getvalue())
    assert got.type == "cancel"
    assert got.get("target_accounts").value == ["zxkt_abc01"]


def test_encrypted_pdf():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(text_pdf([["注销说明", "我司申请注销账号"]]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    got = read_one("注销说明.pdf", buf.getvalue())
    assert any("加密" in p for p in problems(got))


def test_pdf_encrypted_with_an_empty_password_is_read():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(
        io.BytesIO(text_pdf([["注销说明", "外贸发展专项资金（中小）网络管理应用项目组：", "特此说明！"]]))
    ).pages:
        writer.add_page(page)
    writer.encrypt(user_password="", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    got = read_one("x.pdf", buf.getvalue())
    assert not problems(got)
    assert got.type == "cancel"


def test_decompression_bomb_image_gives_a_finding_without_allocating():
    data = png_header(20000, 20000)
    assert len(data) < 200
    got = read_one("营业执照.png", data)
    assert any("像素过大" in p for p in problems(got))
    assert not got.ocr_pending


def test_truncated_image():
    from tests.letters.make_letters import text_image

    data = text_image(["营业执照"], fmt="JPEG")[:300]
    got = read_one("营业执照.jpg", data, ocr=True, ocr_budget_s=5)
    assert isinstance(got, Letter)


@pytest.mark.parametrize(
    ("name", "data", "expect"),
    [
        ("说明.docx", b"", "空文件"),
        ("解绑说明.docx", b"MZ\x90\x00" + bytes(200), "可执行程序"),
        ("说明.docx", random.Random(3).randbytes(5000), "无法识别"),
        ("说明.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "PDF"),
        ("材料.rar", b"Rar!\x1a\x07\x01\x00" + bytes(100), "解压"),
        ("表格.xlsx", None, "Excel"),
        ("a.zip", b"PK\x03\x04" + bytes(60), "压缩包"),
    ],
)
def test_unusable_attachments_give_a_finding(name, data, expect):
    if data is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("xl/workbook.xml", "<workbook/>")
        data = buf.getvalue()
    got = read_one(name, data)
    assert any(expect in p for p in problems(got)), problems(got)


def test_legacy_doc_that_catdoc_cannot_read():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le") + bytes(4000)
    assert sniff(data) == "doc"
    got = read_one("说明.doc", data)
    assert any("docx 或 PDF" in p for p in problems(got))


def test_oversize_attachment_dropped_by_the_mail_parser():
    mail = make_mail(subject="注销说明")
    mail = type(mail)(
        **{
            **{k: getattr(mail, k) for k in mail.__dataclass_fields__},
            "attachments": (
                MailAttachment(
                    "扫描件.pdf", "application/pdf", b"", problem="oversize", declared_size=80 << 20
                ),
            ),
        }
    )
    got = read(mail, today=TODAY)
    assert any("过大" in p for p in problems(got))
    assert got.finding("required_attachments").status == "unknown"


def test_random_bytes_everywhere():
    rng = random.Random(42)
    for k in range(30):
        data = rng.randbytes(rng.randint(0, 3000))
        if k % 3 == 0:
            data = b"PK\x03\x04" + data
        elif k % 3 == 1:
            data = b"%PDF-1.4\n" + data
        got = read_one(f"f{k}.bin", data)
        assert got.type in ("change", "unbind", "cancel", "recovery", "inquiry")


def test_nested_zip_is_not_followed():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("x.txt", "hello")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("inner.zip", inner.getvalue())
    got = read_one("a.zip", outer.getvalue())
    assert any("压缩包内还有压缩包" in p for p in problems(got))


def test_many_attachments_are_capped():
    atts = [(f"{i}.txt", b"hello") for i in range(25)]
    got = read(make_mail(attachments=atts), today=TODAY)
    assert any("只读取了前 20 个" in f.message for f in got.findings)


def test_rtf_letter_is_read():
    rtf = rb"{\rtf1\ansi\ansicpg936{\fonttbl{\f0 SimSun;}}\f0 \'d7\'a2\'cf\'fa\'cb\'b5\'c3\'f7\par \u25105?\u21496?}"
    assert rtf_to_text(rtf).split() == ["注销说明", "我司"]
    got = read_one("说明.doc", rtf)
    assert got.sources[0].kind == "rtf"


def test_reader_bug_still_gives_a_letter(monkeypatch):
    from helpdesk.letters import reader

    monkeypatch.setattr(reader, "classify", lambda **kw: 1 / 0)
    got = read(make_mail(text="hello"), today=TODAY)
    assert got.type == "inquiry"
    assert got.finding("internal_error").status == "unknown"


def _image(fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (255, 255, 255)).save(buf, fmt)
    return buf.getvalue()


def _zip(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, "<x/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (lambda: docx_bytes(["标题", "正文", "公司", "日期"]), "docx"),
        (lambda: _zip("xl/workbook.xml"), "xlsx"),
        (lambda: _zip("OFD.xml"), "ofd"),
        (lambda: _zip("readme.txt"), "zip"),
        (lambda: b"Rar!\x1a\x07\x00" + bytes(20), "rar"),
        (lambda: text_pdf([["说明"]]), "pdf"),
        (lambda: _image("JPEG"), "jpg"),
        (lambda: _image("PNG"), "png"),
        (lambda: _image("TIFF"), "tif"),
        (lambda: _image("BMP"), "bmp"),
        (lambda: _image("GIF"), "gif"),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le"), "doc"),
        (lambda: b"MZ" + bytes(100), "exe"),
        (lambda: b"", "empty"),
        (lambda: "解绑说明\n我司申请解绑账号".encode("gb18030"), "text"),
        (lambda: bytes(range(256)) * 4, "unknown"),
    ],
)
def test_sniff_by_magic_bytes(data, kind):
    assert sniff(data()) == kind
