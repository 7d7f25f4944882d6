"""Letters in the enterprise's own words (issue 12): golden letters per wording, each with the values
an agent reads off the page, written by hand. The mail is built here (body, docx, docx table,
text PDF); scans are in test_ocr.py and the bench."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from helpdesk.letters import Letter, read
from tests.letters.forms import Written, docx_file
from tests.letters.make_letters import TODAY, licence_lines, make_mail, text_pdf

GOLDEN = Path(__file__).parent / "data" / "golden"
USCC = "914403001922038216"  # a real, valid code (Huawei)
USCC_BAD = "914403001922038217"  # the same with a wrong check character
ORG = "19220382-1"


def got(letter: Letter) -> dict:
    """Field name -> value (lists for names that occur several times), plus the type."""
    out: dict = {"type": letter.type}
    for f in letter.fields:
        if f.name in ("uscc", "org_code", "old_value", "new_value", "invalid_code"):
            out.setdefault(f.name, []).append(f.value)
        else:
            out.setdefault(f.name, f.value)
    return out


def check(letter: Letter, want: dict) -> None:
    have = got(letter)
    for name, value in want.items():
        if name.startswith("no_"):
            assert name[3:] not in have, (name, have.get(name[3:]))
            continue
        assert have.get(name) == value, (name, have.get(name), letter.type_reasons)


def _golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.txt"))


@pytest.mark.parametrize("path", _golden_cases(), ids=lambda p: p.stem)
def test_golden_body_letter(path: Path) -> None:
    """Each golden letter, pasted into a mail body, gives the hand-written values of its .json."""
    want = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    mail = make_mail(subject=want.pop("_subject", ""), text=path.read_text(encoding="utf-8"))
    check(read(mail, today=TODAY, ocr=False), want)


def _golden_letters() -> list[Path]:
    """The golden cases that are letters (a question is mail, never a letter file)."""
    return [
        p
        for p in _golden_cases()
        if json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))["type"] != "inquiry"
    ]


@pytest.mark.parametrize("path", _golden_letters(), ids=lambda p: p.stem)
def test_golden_letter_as_docx_reads_the_same(path: Path) -> None:
    """The same letter as a Word file, mail without words: the type comes from the letter itself."""
    want = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    want.pop("_subject", None)
    lines = [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]
    w = Written(lines[0], lines[1:-2], lines[-2:])
    mail = make_mail(attachments=[("scan01.docx", docx_file(w))])
    check(read(mail, today=TODAY, ocr=False), want)


def test_form_table_in_docx() -> None:
    w = Written(
        "统一平台账号注销申请表",
        ["外贸发展专项资金（中小）网络管理应用项目组：", "以上信息属实。"],
        ["广州天河华瑞服饰有限公司", "2026年11月2日"],
        table=[
            ("单位名称", "广州天河华瑞服饰有限公司"),
            ("账号数量", "3"),
            ("全部账号", "zxkt_huarui1、huarui2019、gzhr_trade"),
            ("申请注销账号", "huarui2019"),
            ("事由", "重复注册"),
        ],
    )
    mail = make_mail(attachments=[("表.docx", docx_file(w, table=True))])
    letter = read(mail, today=TODAY, ocr=False)
    check(
        letter,
        {
            "type": "cancel",
            "company_name": "广州天河华瑞服饰有限公司",
            "account_names": ["zxkt_huarui1", "huarui2019", "gzhr_trade"],
            "target_accounts": ["huarui2019"],
            "account_count": 3,
            "reason": "重复注册",
            "letter_date": "2026-11-02",
        },
    )


def test_account_and_code_wrapped_across_pdf_lines() -> None:
    """A text PDF wraps a long line inside an account name and inside a code: both are rejoined."""
    lines = [
        "解绑说明",
        "外贸发展专项资金（中小）网络管理应用项目组：",
        "深圳市南山区创联智能设备有限公司在商务部业务系统统一平台存在两个账号，分别是zxkt_chuanglian",
        "2020和clzn_trade88，因资质审核异常，现申请解绑clzn_trade88。我司统一社会信用代码为914403001922",
        "038216。",
        "特此说明！",
        "深圳市南山区创联智能设备有限公司",
        "2026年11月20日",
    ]
    pdf = text_pdf([lines], width=200)  # one PDF line per entry: the breaks above are the layout's
    letter = read(make_mail(attachments=[("说明.pdf", pdf)]), today=TODAY, ocr=False)
    check(
        letter,
        {
            "type": "unbind",
            "account_names": ["zxkt_chuanglian2020", "clzn_trade88"],
            "target_accounts": ["clzn_trade88"],
            "account_count": 2,
            "uscc": [USCC],
            "reason": "资质审核异常",
        },
    )


def test_invalid_code_the_letter_states_is_a_field() -> None:
    text = (
        "注销说明\n外贸发展专项资金（中小）网络管理应用项目组：\n"
        f"我司深圳华强电子有限公司（统一社会信用代码：{USCC_BAD}）在统一平台有2个账号：hq_a01、hq_b02，"
        "因重复注册，现申请注销hq_b02。\n深圳华强电子有限公司\n2026年11月3日"
    )
    letter = read(make_mail(text=text), today=TODAY, ocr=False)
    check(letter, {"type": "cancel", "invalid_code": [USCC_BAD], "no_uscc": None})
    assert letter.finding("uscc_checksum") is None or letter.finding("uscc_checksum").status == "fail"


def test_quoted_reply_carries_the_letter() -> None:
    letter_text = (
        "解绑说明\n外贸发展专项资金（中小）网络管理应用项目组：\n"
        "青岛鑫达国际贸易有限公司在商务部业务系统统一平台存在2个账号，账号信息分别是zxkt_xinda01、xd_trade，"
        "由于项目无法申报原因，现申请解绑xd_trade，账号解绑后对企业之前申报项目无影响。\n特此说明！\n"
        "青岛鑫达国际贸易有限公司\n2026年11月10日"
    )
    body = (
        "老师您好，以下是我们之前发的说明，麻烦尽快处理。\n\n"
        "在 2026年11月10日 青岛鑫达 <qd@example.com> 写道：\n"
        + "\n".join(f"> {ln}" for ln in letter_text.split("\n"))
    )
    letter = read(make_mail(subject="Re: 解绑", text=body), today=TODAY, ocr=False)
    check(
        letter,
        {
            "type": "unbind",
            "company_name": "青岛鑫达国际贸易有限公司",
            "account_names": ["zxkt_xinda01", "xd_trade"],
            "target_accounts": ["xd_trade"],
            "reason": "项目无法申报",
        },
    )


def test_letter_with_licence_words_is_still_the_letter() -> None:
    lines = [
        "注销说明",
        "外贸发展专项资金（中小）网络管理应用项目组：",
        f"深圳华强电子有限公司（统一社会信用代码：{USCC}，法定代表人：王伟，注册资本：100万元，"
        "住所：深圳市福田区华强北路1号，登记机关：深圳市市场监督管理局）在商务部业务系统统一平台存在2个账号，"
        "账号信息分别是hq_main、hq_old，由于账号重复原因，现申请注销hq_old，账号注销后对企业之前申报项目无影响。",
        "特此说明！",
        "深圳华强电子有限公司",
        "2026年11月5日",
    ]
    licence = text_pdf([licence_lines("深圳华强电子有限公司", USCC, random.Random(1))])
    mail = make_mail(attachments=[("说明.pdf", text_pdf([lines])), ("营业执照.pdf", licence)])
    letter = read(mail, today=TODAY, ocr=False)
    roles = {s.filename: s.role for s in letter.sources}
    assert roles["说明.pdf"] == "letter" and roles["营业执照.pdf"] == "licence"
    check(
        letter,
        {
            "type": "cancel",
            "company_name": "深圳华强电子有限公司",
            "target_accounts": ["hq_old"],
            "account_names": ["hq_main", "hq_old"],
            "has_licence": True,
        },
    )


def test_recovery_form_read_without_the_mail_is_recovery() -> None:
    w = Written(
        "账号找回申请表",
        [
            "外贸发展专项资金（中小）网络管理应用项目组：",
            f"我公司深圳华强电子有限公司（统一社会信用代码：{USCC}）忘记了统一平台登录账号，申请找回。",
        ],
        ["深圳华强电子有限公司", "2026年11月5日"],
    )
    letter = read(make_mail(attachments=[("a.docx", docx_file(w))]), today=TODAY, ocr=False)
    check(letter, {"type": "recovery", "uscc": [USCC], "company_name": "深圳华强电子有限公司"})


@pytest.mark.parametrize(
    "text",
    [
        "你好，请问怎么解绑？我们公司有两个账号。",
        "请问变更统一社会信用代码需要什么材料？",
        "注销账号要多久能办好？",
    ],
)
def test_how_to_questions_are_inquiries(text: str) -> None:
    assert read(make_mail(subject="咨询", text=text), today=TODAY, ocr=False).type == "inquiry"


def test_json_shape_keeps_findings_apart_and_provenance_only_where_it_applies() -> None:
    text = (GOLDEN / "010-both-codes-change.txt").read_text(encoding="utf-8")
    d = read(make_mail(text=text), today=TODAY, ocr=False).to_dict()
    assert d["fields"] and d["findings"]
    for f in d["fields"]:
        assert set(f) <= {"name", "value", "evidence", "confidence", "repaired", "original"}
        assert ("repaired" in f) == ("original" in f)
        assert f.get("repaired", True) is True
        assert None not in f["evidence"].values()
    for f in d["findings"]:
        assert set(f) <= {"code", "status", "message", "about"}
        assert "name" not in f and "value" not in f and "field" not in f
    assert Letter.from_dict(json.loads(json.dumps(d))).to_dict() == d


def test_from_dict_reads_the_shape_stored_before() -> None:
    old = {
        "type": "cancel",
        "type_reasons": ["附件标题为“注销说明”"],
        "fields": [
            {
                "name": "uscc",
                "value": USCC,
                "evidence": {"source": "body", "text": USCC, "page": None, "start": 3, "end": 21},
                "confidence": 0.95,
                "repaired": False,
                "original": None,
            }
        ],
        "findings": [
            {"code": "account_exists", "status": "fail", "message": "…", "field": "target_accounts"}
        ],
        "sources": [],
        "timings": {},
        "ocr_pending": False,
    }
    letter = Letter.from_dict(old)
    assert letter.get("uscc").value == USCC and letter.get("uscc").repaired is False
    assert letter.findings[0].field == "target_accounts"
    new = letter.to_dict()
    assert new["findings"][0]["about"] == "target_accounts"
    assert "repaired" not in new["fields"][0] and "page" not in new["fields"][0]["evidence"]


def test_licence_absent_when_only_the_letter_is_attached() -> None:
    text = (GOLDEN / "002-paren-count.txt").read_text(encoding="utf-8")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    mail = make_mail(attachments=[("说明.pdf", text_pdf([lines]))])
    assert got(read(mail, today=TODAY, ocr=False)).get("has_licence") is False


def test_html_mail_with_a_table_reads_label_cells() -> None:
    """An HTML-only mail whose letter is a table: each row's label cell labels the value cell."""
    from tests.letters.forms import make_mail as make_html_mail

    rows = [
        ("公司名称", "嘉兴海宁皮革制品有限公司"),
        ("账号个数", "2"),
        ("账号名称", "hnpg_01、hnpg_02"),
        ("注销账号", "hnpg_02"),
        ("注销事由", "该账号系重复注册"),
    ]
    cells = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    html = (
        "<html><body><p>注销说明</p><p>外贸发展专项资金（中小）网络管理应用项目组：</p>"
        f"<table>{cells}</table><p>嘉兴海宁皮革制品有限公司</p><p>2026年11月12日</p></body></html>"
    )
    letter = read(make_html_mail(subject="注销", html_text=html), today=TODAY, ocr=False)
    check(
        letter,
        {
            "type": "cancel",
            "company_name": "嘉兴海宁皮革制品有限公司",
            "account_names": ["hnpg_01", "hnpg_02"],
            "target_accounts": ["hnpg_02"],
            "account_count": 2,
            "reason": "该账号系重复注册",
        },
    )


@pytest.mark.parametrize(
    ("sentence", "targets", "names"),
    [
        # a remark in brackets lists the accounts; only the one before it is removed
        ("申请注销统一平台账号ab_01（名下账号共2个：ab_01、ab_02）。", ["ab_01"], ["ab_01", "ab_02"]),
        # brackets introduced by the request: what is inside is removed (no list: all named accounts)
        (
            "名下共有3个账号，现申请注销以下账号（ab_02、ab_03），保留ab_01。",
            ["ab_02", "ab_03"],
            ["ab_02", "ab_03", "ab_01"],
        ),
    ],
)
def test_accounts_in_brackets(sentence: str, targets: list[str], names: list[str]) -> None:
    text = f"注销说明\n外贸发展专项资金（中小）网络管理应用项目组：\n湖州南浔木业有限公司{sentence}\n湖州南浔木业有限公司\n2026年11月9日"
    letter = read(make_mail(text=text), today=TODAY, ocr=False)
    assert letter.get("target_accounts").value == targets
    assert letter.get("account_names").value == names


@pytest.mark.ocr
@pytest.mark.parametrize("sealed", [True, False], ids=["seal", "no-seal"])
def test_recovery_request_scan_has_a_seal_hint(sealed: bool) -> None:
    """A recovery request is a stamped paper too: its colour scan gets the seal hint."""
    from helpdesk.letters import ocr

    if not ocr.available():
        pytest.skip("no OCR engine")
    from tests.letters.scanmaker import render_scan

    text = (
        "账号找回申请表\n外贸发展专项资金（中小）网络管理应用项目组：\n"
        "湖州南浔木业有限公司，统一社会信用代码914403001922038216，因原经办人离职，已忘记统一平台账号和密码，"
        "现申请找回账号。\n湖州南浔木业有限公司\n2026年11月9日"
    )
    scan = render_scan(text, seed=3, seal=sealed, rotate=0.4, jpeg_quality=80)
    letter = read(make_mail(attachments=[("找回申请.jpg", scan)]), today=TODAY)
    assert letter.type == "recovery"
    assert letter.get("seal").value == ("seal" if sealed else "none")
