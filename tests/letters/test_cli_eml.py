"""`helpdesk read-letter mail.eml` reads a saved mail exactly as intake does (parse_mail, then read)."""

from __future__ import annotations

import io
import json
import random
from email.message import EmailMessage
from pathlib import Path

import pytest

from helpdesk.letters import read
from helpdesk.letters.cli import main, read_file
from helpdesk.mail.parse import parse_mail
from tests.letters import scanmaker
from tests.letters.forms import Written, docx_file
from tests.letters.make_letters import TODAY
from tests.letters.test_read import needs_ocr

LETTER = [
    "注销说明",
    "外贸发展专项资金（中小）网络管理应用项目组：",
    "青岛鑫达国际贸易有限公司在商务部业务系统统一平台存在2个账号，账号信息分别是zxkt_xinda01、xd_trade，"
    "由于项目无法申报原因，现申请注销xd_trade，账号注销后对企业之前申报项目无影响。",
    "特此说明！",
    "青岛鑫达国际贸易有限公司",
    "2026年11月10日",
]


def _eml(tmp_path: Path, body: str, attachments: list[tuple[str, bytes]]) -> Path:
    m = EmailMessage()
    m["From"] = "青岛鑫达 <qd@example.com>"
    m["To"] = "zxzj@ec.com.cn"
    m["Subject"] = "注销申请"
    m["Message-ID"] = "<a1@example.com>"
    m.set_content(body)
    for name, data in attachments:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    path = tmp_path / "mail.eml"
    path.write_bytes(bytes(m))
    return path


def _same_as_intake(path: Path, *, ocr: bool) -> dict:
    got = read_file(str(path), ocr=ocr, today=TODAY)
    want = read(parse_mail(path.read_bytes(), max_attachment_bytes=20 << 20), today=TODAY, ocr=ocr).to_dict()
    for d in (got, want):
        d.pop("timings")
        for s in d["sources"]:
            s.pop("seconds")
    assert got == want
    return got


def _values(d: dict) -> dict:
    return {f["name"]: f["value"] for f in d["fields"]}


def test_eml_with_a_docx_letter(tmp_path: Path) -> None:
    w = Written(LETTER[0], LETTER[1:-2], LETTER[-2:])
    path = _eml(tmp_path, "您好，附件是说明。", [("注销说明.docx", docx_file(w))])
    d = _same_as_intake(path, ocr=False)
    assert d["type"] == "cancel"
    v = _values(d)
    assert v["target_accounts"] == ["xd_trade"] and v["company_name"] == "青岛鑫达国际贸易有限公司"
    assert any(s["filename"] == "注销说明.docx" and s["role"] == "letter" for s in d["sources"])


def test_eml_with_the_letter_in_the_body(tmp_path: Path) -> None:
    path = _eml(tmp_path, "老师好：\n" + "\n".join(LETTER), [])
    d = _same_as_intake(path, ocr=False)
    assert d["type"] == "cancel" and _values(d)["account_names"] == ["zxkt_xinda01", "xd_trade"]


@pytest.mark.ocr
@needs_ocr
def test_eml_with_a_scanned_letter(tmp_path: Path) -> None:
    scan = scanmaker.render_scan("\n".join(LETTER), seed=4, seal=True, jpeg_quality=80)
    path = _eml(tmp_path, "", [("扫描件.jpg", scan)])
    d = _same_as_intake(path, ocr=True)
    assert d["type"] == "cancel"
    assert _values(d)["target_accounts"] == ["xd_trade"] and _values(d)["seal"] == "seal"


def test_main_prints_the_same_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _eml(tmp_path, "\n".join(LETTER), [])
    assert main([str(path), "--no-ocr", "--today", TODAY.isoformat()]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["type"] == "cancel" and _values(printed)["target_accounts"] == ["xd_trade"]


def test_seal_on_a_colour_page_without_a_seal_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """A colour scan of a white page with no red ring: "none", not "cannot tell"."""
    from helpdesk.letters.seal import detect_seal

    monkeypatch.setattr(scanmaker, "PAPER", (255, 255, 255))
    page = scanmaker.render_page("\n".join(LETTER), seed=5, seal=False)
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=80)
    assert detect_seal(buf.getvalue()).verdict == "none"
    buf = io.BytesIO()
    page.convert("L").save(buf, "JPEG", quality=80)
    assert detect_seal(buf.getvalue()).verdict == "unknown"  # a real greyscale page: cannot tell


@pytest.mark.parametrize("stamped", [True, False])
def test_seal_on_an_image_only_pdf_page_is_judged_as_a_page(stamped: bool) -> None:
    """The page picture of an image-only PDF is not shrunk like an e-seal picture first."""
    from helpdesk.letters import reader, seal_check

    pdf = scanmaker.render_pdf_scan("\n".join(LETTER), seed=6, seal=stamped)
    src = reader.from_attachment("说明.pdf", pdf)[0]
    src.role, src.page_roles = "letter", ["letter"]
    (verdict, why), _label = seal_check.seal(src)
    assert verdict == ("seal" if stamped else "none"), why


def test_a_text_file_is_the_body_and_random_bytes_do_not_crash(tmp_path: Path) -> None:
    txt = tmp_path / "letter.txt"
    txt.write_text("\n".join(LETTER), encoding="utf-8")
    assert read_file(str(txt), ocr=False, today=TODAY)["type"] == "cancel"
    junk = tmp_path / "x.eml"
    junk.write_bytes(bytes(random.Random(1).randbytes(3000)))
    assert read_file(str(junk), ocr=False, today=TODAY)["type"] == "inquiry"
