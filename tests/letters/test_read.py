"""read(mail) -> Letter on golden letters built in the tests (docx, text PDF, mail body, scans)."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest

from helpdesk.letters import Letter, blank_template, read
from helpdesk.letters.accounts import cn_number, norm_account, scan_accounts
from helpdesk.letters.classify import strip_reply_prefix
from helpdesk.letters.view import make_view
from tests.letters.make_letters import (
    ADDRESSEE,
    TODAY,
    docx_bytes,
    letter,
    licence_lines,
    make_case,
    make_mail,
    make_uscc,
    text_image,
    text_pdf,
)

HUAWEI = "914403001922038216"


def _ocr_available() -> bool:
    try:
        from helpdesk.letters import ocr
    except Exception:
        return False
    try:
        return bool(ocr.available())
    except Exception:
        return False


needs_ocr = pytest.mark.skipif(
    not _ocr_available() and os.environ.get("CI") != "true", reason="OCR engine not available (CI would fail)"
)


def value(letter: Letter, name: str):
    if name in ("uscc", "org_code"):
        return sorted(letter.values(name))
    f = letter.get(name)
    return None if f is None else f.value


def assert_truth(letter: Letter, truth: dict) -> None:
    assert letter.type == truth["type"], letter.type_reasons
    for name, want in truth.items():
        if name == "type":
            continue
        want = sorted(want) if name in ("uscc", "org_code") else want
        assert value(letter, name) == want, (name, letter.get(name))


def finding(letter: Letter, code: str):
    f = letter.finding(code)
    assert f is not None, [x.code for x in letter.findings]
    return f


# --- golden letters: every source, every wording --------------------------------------------------


@pytest.mark.parametrize("source", ["docx", "pdf", "body"])
@pytest.mark.parametrize("seed", range(24))
def test_golden_letter_fields_are_exact(seed, source):
    case = make_case(seed, source=source)
    letter = read(case.mail, today=TODAY, ocr=False)
    assert_truth(letter, case.truth)
    assert not letter.finding("internal_error")


@pytest.mark.parametrize("style", ["template", "words", "labels"])
@pytest.mark.parametrize("kind", ["change", "unbind", "cancel"])
def test_each_wording_of_each_letter(kind, style):
    for seed in range(4):
        case = make_case(1000 + seed, kind=kind, source="docx", style=style)
        assert_truth(read(case.mail, today=TODAY, ocr=False), case.truth)


def test_unbind_letter_with_licence_pdf_passes_the_attachment_check():
    lines, truth = letter("unbind", __import__("random").Random(7), style="template")
    licence = text_pdf([licence_lines(str(truth["company_name"]), HUAWEI, __import__("random").Random(1))])
    mail = make_mail(
        subject="解绑申请", attachments=[("解绑说明.docx", docx_bytes(lines)), ("营业执照.pdf", licence)]
    )
    got = read(mail, today=TODAY)
    assert got.type == "unbind"
    assert got.get("has_licence").value is True
    assert got.get("has_licence").evidence.source == "attachment:营业执照.pdf"
    assert finding(got, "required_attachments").status == "pass"
    assert HUAWEI in got.values("uscc")
    assert [s.role for s in got.sources if s.kind != "body"] == ["letter", "licence"]
    assert finding(got, "company_name_consistent").status == "pass"
    assert finding(got, "several_accounts").status == "pass"
    assert finding(got, "target_listed").status == "pass"


def test_licence_is_recognised_by_content_not_by_file_name():
    lines, truth = letter("cancel", __import__("random").Random(3), style="template")
    licence = text_pdf([licence_lines(str(truth["company_name"]), HUAWEI, __import__("random").Random(1))])
    mail = make_mail(attachments=[("注销说明.pdf", licence), ("营业执照.docx", docx_bytes(lines))])
    got = read(mail, today=TODAY)
    assert got.type == "cancel"
    roles = {s.filename: s.role for s in got.sources}
    assert roles == {"注销说明.pdf": "licence", "营业执照.docx": "letter"}
    assert got.get("company_name").evidence.source == "attachment:营业执照.docx"


def test_cancel_letter_without_licence_fails_the_attachment_check():
    lines, _ = letter("cancel", __import__("random").Random(11))
    got = read(make_mail(attachments=[("注销说明.docx", docx_bytes(lines))]), today=TODAY)
    assert got.type == "cancel"
    assert got.get("has_licence").value is False
    f = finding(got, "required_attachments")
    assert f.status == "fail" and "营业执照" in f.message


def test_change_letter_with_old_and_new_codes():
    old = HUAWEI[:17] + "7"
    text = (
        f"变更说明\n{ADDRESSEE}\n深圳华强电子有限公司在商务部业务系统统一平台账号zxkt_hq2020，由于注册时填写错误原因，"
        f"现申请更改商务部业务系统统一平台外贸发展专项资金（中小）网络管理应用统一社会信用代码，由{old}变更为"
        f"９１４４ ０３００ １９２２ ０３８２ １６，变更后对企业之前申报项目无影响。\n特此说明！\n深圳华强电子有限公司\n2026年11月20日"
    )
    got = read(make_mail(attachments=[("变更说明.docx", docx_bytes(text.split("\n")))]), today=TODAY)
    assert got.type == "change"
    assert value(got, "old_value") == old
    assert value(got, "new_value") == HUAWEI
    assert value(got, "modification") == "统一社会信用代码"
    assert got.values("uscc") == [HUAWEI]
    assert got.get("new_value").evidence.text == "９１４４ ０３００ １９２２ ０３８２ １６"
    checks = {f.field: f for f in got.findings if f.code == "uscc_checksum"}
    assert checks["new_value"].status == "pass"
    assert checks["old_value"].status == "unknown" and "校验未通过" in checks["old_value"].message
    assert finding(got, "required_attachments").status == "pass"
    assert finding(got, "letter_date").status == "pass"


def test_old_code_of_a_change_is_never_repaired_into_the_new_one():
    new = HUAWEI
    old = new[:10] + ("9" if new[10] != "9" else "8") + new[11:]  # inside the embedded org code
    text = f"变更说明\n{ADDRESSEE}\n我司申请将统一社会信用代码由{old}更正为{new}。\n特此说明！\n深圳华强电子有限公司\n2026年11月20日"
    got = read(make_mail(text=text), today=TODAY)
    assert (value(got, "old_value"), value(got, "new_value")) == (old, new)
    assert not finding(got, "change_values") if got.finding("change_values") else True
    assert got.values("uscc") == [new]


def test_letter_pasted_in_the_body_with_a_licence_scan_and_ocr_deferred():
    lines, truth = letter("unbind", __import__("random").Random(5), style="words")
    scan = text_image(
        licence_lines(str(truth["company_name"]), HUAWEI, __import__("random").Random(2)), fmt="JPEG"
    )
    mail = make_mail(subject="解绑", text="您好：\n" + "\n".join(lines), attachments=[("营业执照.jpg", scan)])
    got = read(mail, today=TODAY, ocr=False)
    assert got.ocr_pending
    assert got.type == "unbind"
    assert value(got, "company_name") == truth["company_name"]
    assert value(got, "target_accounts") == truth["target_accounts"]
    assert got.get("company_name").evidence.source == "body"
    lic = got.get("has_licence")
    assert lic.value is True and lic.evidence.source == "filename" and lic.confidence < 0.8
    f = finding(got, "required_attachments")
    assert f.status == "fail" and "正文" in f.message  # the letter itself is not attached
    assert finding(got, "ocr").message == "扫描件尚未识别（稍后自动识别）"
    assert finding(got, "seal").status == "unknown"


def test_ocr_unavailable_is_a_finding(monkeypatch):
    from helpdesk.letters import inputs

    real = inputs.optional
    monkeypatch.setattr(inputs, "optional", lambda name: None if name == "ocr" else real(name))
    scan = text_image(["解绑说明", "我司申请解绑账号"], fmt="PNG")
    got = read(make_mail(attachments=[("scan.png", scan)]), today=TODAY)
    assert finding(got, "ocr").message == "OCR 不可用：扫描件未识别，请人工查看附件"
    assert got.type == "inquiry"
    assert not got.ocr_pending


def test_ocr_budget_spent_is_a_finding(monkeypatch):
    import time as _time
    import types

    from helpdesk.letters import inputs

    calls = []

    def slow_ocr(data, *, deadline=None):
        calls.append(deadline)
        _time.sleep(0.3)
        return types.SimpleNamespace(
            pages=["营业执照 统一社会信用代码 法定代表人 注册资本"],
            text="",
            engine="fake",
            error=None,
            seconds=0.3,
        )

    fake = types.SimpleNamespace(available=lambda: True, ocr_image=slow_ocr, ocr_pdf=slow_ocr)
    real = inputs.optional
    monkeypatch.setattr(inputs, "optional", lambda name: fake if name == "ocr" else real(name))
    scans = [(f"s{i}.png", text_image([f"第{i}页"], fmt="PNG")) for i in range(3)]
    got = read(make_mail(attachments=scans), today=TODAY, ocr_budget_s=0.2)
    assert len(calls) == 1 and calls[0] is not None
    assert finding(got, "ocr").message.startswith("OCR 超时")
    assert got.get("has_licence").value is True


def test_recovery_mail_in_other_words():
    text = (
        "老师您好，我司上海浦江贸易有限公司忘记了统一平台的登录账号和密码，统一社会信用代码为9144O3001922038216，"
        "请帮忙找回。联系人：王伟，电话：13812345678"
    )
    got = read(make_mail(subject="找回账号", text=text), today=TODAY)
    assert got.type == "recovery"
    assert value(got, "company_name") == "上海浦江贸易有限公司"
    assert value(got, "contact") == "王伟 13812345678"
    f = got.get("uscc")
    assert f.value == HUAWEI and f.repaired and f.original == "9144O3001922038216"
    assert (
        finding(got, "uscc_checksum").status == "pass"
        and "9144O3001922038216" in finding(got, "uscc_checksum").message
    )


def test_general_question_is_an_inquiry():
    got = read(make_mail(subject="咨询", text="请问资金拨付申报在哪里操作？谢谢。"), today=TODAY)
    assert got.type == "inquiry"
    assert got.fields == ()
    assert "按咨询处理" in got.type_reasons[0]


def test_reply_with_ticket_tag_is_classified_by_content():
    mail = make_mail(
        subject="Re: [ZXZJ#12] 回复：材料补充",
        text="您好，已补充注销说明，请查收。\n\n-----原始邮件-----\n发件人：zxzj@ec.com.cn\n请补充营业执照",
    )
    got = read(mail, today=TODAY)
    assert got.type == "cancel"
    assert strip_reply_prefix("Re: [ZXZJ#12] 回复：材料补充") == "材料补充"


def test_title_of_the_letter_beats_keywords_in_the_body():
    lines, _ = letter("change", __import__("random").Random(2), style="template")
    mail = make_mail(
        subject="注销账号",
        text="我们想注销多余的账号，也想解绑。",
        attachments=[("a.docx", docx_bytes(lines))],
    )
    got = read(mail, today=TODAY)
    assert got.type == "change"
    assert "标题" in got.type_reasons[0]


@pytest.mark.parametrize("kind", ["change", "unbind", "cancel"])
def test_blank_template_reads_back_with_no_values(kind):
    got = read(make_mail(attachments=[(f"{kind}.docx", blank_template(kind))]), today=TODAY)
    assert got.type == kind
    values = {f.name for f in got.fields}
    assert values <= {"has_licence", "seal"}, values
    blanks = finding(got, "template_blanks")
    assert blanks.status == "fail" and "（公司名称）" in blanks.message
    assert finding(got, "seal").message == "电子版未见公章图片"


def test_blank_template_is_a_proper_word_document():
    import io

    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = docx.Document(io.BytesIO(blank_template("unbind")))
    paras = [p for p in doc.paragraphs if p.text.strip()]
    assert paras[0].text == "解绑说明" and paras[0].alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert all(r.bold for r in paras[0].runs)
    assert paras[1].text == ADDRESSEE
    assert any(r.underline and "（账号信息）" in r.text for r in paras[2].runs)
    assert paras[3].text == "特此说明！"
    assert [p.alignment for p in paras[-2:]] == [WD_ALIGN_PARAGRAPH.RIGHT] * 2
    with pytest.raises(ValueError):
        blank_template("recovery")


def test_unfilled_blanks_with_some_values_are_reported():
    text = (
        f"注销说明\n{ADDRESSEE}\n上海浦江贸易有限公司在商务部业务系统统一平台存在（几个）账号，账号信息分别是zxkt_a01、（账号信息），"
        "由于（事由）原因，现申请注销zxkt_a01，账号注销后对企业之前申报项目无影响。\n特此说明！\n上海浦江贸易有限公司（盖章）\nXXXX年XX月XX日"
    )
    got = read(make_mail(attachments=[("注销说明.docx", docx_bytes(text.split("\n")))]), today=TODAY)
    assert value(got, "company_name") == "上海浦江贸易有限公司"
    assert (
        value(got, "account_count") is None
        and value(got, "reason") is None
        and value(got, "letter_date") is None
    )
    f = finding(got, "template_blanks")
    assert f.status == "fail"
    for blank in ("（几个）", "（事由）", "XXXX"):
        assert blank in f.message


def test_account_count_that_does_not_match_the_list_fails():
    text = (
        f"解绑说明\n{ADDRESSEE}\n上海浦江贸易有限公司在商务部业务系统统一平台存在三个账号，账号信息分别是zxkt_a01和zxkt_b02，"
        "由于项目无法申报原因，现申请解绑zxkt_c03，账号解绑后对企业之前申报项目无影响。\n特此说明！\n上海浦江贸易有限公司\n2026年11月1日"
    )
    got = read(make_mail(attachments=[("x.docx", docx_bytes(text.split("\n")))]), today=TODAY)
    assert value(got, "account_count") == 3
    assert value(got, "account_names") == ["zxkt_a01", "zxkt_b02"]
    assert finding(got, "account_count").status == "fail"
    assert finding(got, "target_listed").status == "fail"


@pytest.mark.parametrize(
    ("written", "iso", "status"),
    [
        ("2026年11月20日", "2026-11-20", "pass"),
        ("２０２６－１１－２０", "2026-11-20", "pass"),
        ("二〇二六年十一月二十日", "2026-11-20", "pass"),
        ("二〇二六年十二月三日", "2026-12-03", "fail"),  # in the future
        ("2025年3月1日", "2025-03-01", "fail"),  # older than 180 days
    ],
)
def test_letter_date_forms_and_plausibility(written, iso, status):
    text = f"注销说明\n{ADDRESSEE}\n我司申请注销账号zxkt_abc01。\n特此说明！\n上海浦江贸易有限公司\n{written}"
    got = read(make_mail(text=text), today=date(2026, 11, 25))
    assert value(got, "letter_date") == iso
    assert finding(got, "letter_date").status == status


@pytest.mark.parametrize(
    ("text", "accounts"),
    [
        ("账号信息分别是zxkt_a01、zxkt_b02", ["zxkt_a01", "zxkt_b02"]),
        ("账号分别为：ｚｘｋｔ＿ａ０１，ｂ０２ｘｙ", ["zxkt_a01", "b02xy"]),
        ("用户名：abc123; def456 及 ghi789。", ["abc123", "def456", "ghi789"]),
        ("账号为“shanghai_trade01”和“zxkt-sh02”", ["shanghai_trade01", "zxkt_sh02"]),
        ("账号1：ZXKT_A01，账号2：13812345678", ["zxkt_A01", "13812345678"]),
    ],
)
def test_account_lists_written_in_many_ways(text, accounts):
    v = make_view("body", text)
    from helpdesk.letters.accounts import extract_accounts

    got = {c.name: c.value for c in extract_accounts(v)}
    assert got["account_names"] == accounts


def test_account_names_keep_case_but_fix_the_prefix():
    assert norm_account("ZXKT-Abc01") == "zxkt_Abc01"
    assert norm_account("zxkt abc01") == "zxkt_abc01"
    assert norm_account("abc _ def") == "abc_def"
    assert scan_accounts("abc123、的", 0) == [("abc123", 0, 6)]


@pytest.mark.parametrize(
    ("s", "n"),
    [("2", 2), ("两", 2), ("二", 2), ("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("x", None)],
)
def test_chinese_numerals(s, n):
    assert cn_number(s) == n


def test_target_written_in_other_words():
    text = (
        f"{ADDRESSEE}本公司上海浦江贸易有限公司在统一平台有2个账号：zxkt_a01、abc_trade02。"
        "因资质审核异常，需要将账号abc_trade02注销。"
    )
    got = read(make_mail(subject="申请", text=text), today=TODAY)
    assert got.type == "cancel"
    assert value(got, "target_accounts") == ["abc_trade02"]
    assert value(got, "account_names") == ["zxkt_a01", "abc_trade02"]
    assert value(got, "reason") == "资质审核异常"
    assert value(got, "company_name") == "上海浦江贸易有限公司"


def test_seal_hint_on_a_docx_with_and_without_a_picture():
    lines, _ = letter("change", __import__("random").Random(4))
    plain = read(make_mail(attachments=[("a.docx", docx_bytes(lines))]), today=TODAY)
    assert value(plain, "seal") == "unknown"
    assert finding(plain, "seal").message == "电子版未见公章图片"
    stamped = read(make_mail(attachments=[("a.docx", docx_bytes(lines, seal=True))]), today=TODAY)
    try:
        import numpy  # noqa: F401
    except ImportError:
        pytest.skip("the seal detector needs numpy")
    assert value(stamped, "seal") == "seal"
    assert finding(stamped, "seal").status == "pass"


def test_evidence_points_into_the_source_text():
    case = make_case(3, source="pdf")
    got = read(case.mail, today=TODAY, ocr=False)
    for f in got.fields:
        if f.evidence.source.startswith("attachment:") and f.evidence.start is not None:
            assert f.evidence.end > f.evidence.start
            assert f.evidence.text
    company = got.get("company_name")
    assert company.evidence.text.replace(" ", "") in case.letter_text


def test_to_dict_round_trips_through_json():
    case = make_case(8, source="docx")
    got = read(case.mail, today=TODAY)
    d = got.to_dict()
    assert set(d) == {"type", "type_reasons", "fields", "findings", "sources", "timings", "ocr_pending"}
    again = Letter.from_dict(json.loads(json.dumps(d, ensure_ascii=False)))
    assert again == got
    assert again.values("account_names") == got.values("account_names")


def test_zip_attachment_is_opened():
    import io
    import zipfile

    lines, truth = letter("unbind", __import__("random").Random(9), style="template")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("解绑说明.docx", docx_bytes(lines))
        z.writestr(
            "营业执照.pdf",
            text_pdf(
                [
                    licence_lines(
                        str(truth["company_name"]),
                        make_uscc(__import__("random").Random(1)),
                        __import__("random").Random(1),
                    )
                ]
            ),
        )
    got = read(make_mail(attachments=[("材料.zip", buf.getvalue())]), today=TODAY)
    assert got.type == "unbind"
    assert value(got, "company_name") == truth["company_name"]
    assert finding(got, "required_attachments").status == "pass"


def test_cli_read_file(tmp_path, capsys):
    from helpdesk.letters.cli import main, read_file

    lines, truth = letter("cancel", __import__("random").Random(6))
    path = tmp_path / "注销说明.docx"
    path.write_bytes(docx_bytes(lines))
    d = read_file(str(path), today=TODAY)
    assert d["type"] == "cancel"
    assert main([str(path), "--no-ocr", "--today", "2026-11-25"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["type"] == "cancel"


# --- scans (OCR) ----------------------------------------------------------------------------------


@pytest.mark.ocr
@needs_ocr
@pytest.mark.parametrize("kind", ["change", "unbind", "cancel"])
def test_scanned_letter_is_read_through_ocr(kind):
    pytest.importorskip("tests.letters.scanmaker")
    seed = 4200 + ["change", "unbind", "cancel"].index(kind)
    case = make_case(seed, kind=kind, source="scan", style="template", licence="pdf")
    got = read(case.mail, today=TODAY, ocr_budget_s=120)
    assert got.type == kind
    assert any(s.ocr for s in got.sources)
    assert value(got, "company_name") == case.truth["company_name"]
    assert value(got, "letter_date") == case.truth["letter_date"]
