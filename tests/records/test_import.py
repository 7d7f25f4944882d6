"""Importing the platform's exports: encodings, workbooks, row-by-row errors, idempotence, CLI."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from helpdesk.cli import helpdesk as helpdesk_group
from helpdesk.db import session
from helpdesk.records import importer, lookup
from helpdesk.records.models import (
    AuditEntry,
    Enterprise,
    EnterpriseNameGram,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)
from tests.records.factories import corrupt, make_uscc

U1, U2, U3 = make_uscc("320500"), make_uscc("330100"), make_uscc("440300")

ENTERPRISES = f"""企业名称,统一社会信用代码,组织机构代码,行政区划代码,行政区划,商务主管机关,联系人,联系电话,联系邮箱
苏州恒达贸易有限公司,{U1},{U1[8:16]}-{U1[16]},320500,苏州市,苏州市商务局,王五,0512-1234567,Contact@HengDa.cn
杭州云帆科技有限公司,{U2},,330100,杭州市,杭州市商务局,李四,0571-7654321,
深圳（前海）星辰供应链有限公司,{U3},,440300,深圳市,深圳市商务局,,,
"""
ACCOUNTS = f"""账号,统一社会信用代码,账号状态,是否绑定应用,邮箱,手机
zxkt_hengda,{U1},正常,是,hd@hengda.cn,13800000001
hengda2,{U1},正常,否,,
yunfan,{U2},正常,是,,
yunfan_old,{U2},已注销,否,,
"""


def _count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _import(*files: tuple[str, bytes], skip: bool = False) -> importer.ImportReport:
    return importer.import_files(list(files), skip_invalid=skip)


def test_import_enterprises_and_accounts_from_csv(app):
    report = _import(("企业.csv", ENTERPRISES.encode("utf-8-sig")), ("账号.csv", ACCOUNTS.encode()))
    assert report.applied and not report.errors, report.summary()
    assert report.counts["enterprise"].created == 3 and report.counts["account"].created == 4
    ent = lookup.by_uscc(U1)
    assert (ent.name, ent.org_code, ent.contact_email) == (
        "苏州恒达贸易有限公司",
        U1[8:17],
        "contact@hengda.cn",
    )
    assert lookup.by_uscc(U2).org_code == U2[8:17]  # derived from the USCC when the column is empty
    assert {a.account_name: (a.app_bound, a.status) for a in ent.accounts} == {
        "zxkt_hengda": (True, "active"), "hengda2": (False, "active"),
    }  # fmt: skip
    assert lookup.by_account("yunfan_old").name == "杭州云帆科技有限公司"
    assert lookup.by_name("深圳(前海)星辰供应链有限公司")  # gram index and name key filled by the bulk path
    assert _count(EnterpriseNameGram) > 10
    summary = session.scalars(select(AuditEntry).where(AuditEntry.entity == "import")).one()
    assert summary.detail["counts"]["enterprise"]["created"] == 3


def test_reimport_changes_nothing_and_an_edit_updates_only_that_field(app):
    files = (("企业.csv", ENTERPRISES.encode()), ("账号.csv", ACCOUNTS.encode()))
    _import(*files)
    again = _import(*files)
    assert (
        again.applied and again.counts["enterprise"].unchanged == 3 and again.counts["account"].unchanged == 4
    )
    assert again.counts["enterprise"].created == again.counts["enterprise"].updated == 0
    assert _count(Enterprise) == 3 and _count(PlatformAccount) == 4
    edited = ENTERPRISES.replace("杭州云帆科技有限公司", "杭州云帆智能科技有限公司")
    moved = ACCOUNTS.replace(f"zxkt_hengda,{U1},正常,是", f"zxkt_hengda,{U1},正常,否").replace(
        f"hengda2,{U1},正常,否", f"hengda2,{U1},正常,是"
    )  # the binding moves from one account to the other in the same file
    third = _import(("企业.csv", edited.encode()), ("账号.csv", moved.encode()))
    assert third.applied and not third.errors, [e.text() for e in third.errors]
    assert third.counts["enterprise"].updated == 1 and third.counts["account"].updated == 2
    assert lookup.by_uscc(U2).name == "杭州云帆智能科技有限公司"
    assert lookup.fuzzy_by_name("杭州云帆智能科技公司")[0][0].uscc == U2  # grams follow the rename
    assert (
        session.scalar(select(PlatformAccount.app_bound).where(PlatformAccount.account_name == "hengda2"))
        is True
    )
    audit = {
        (a.entity, a.field, a.before, a.after)
        for a in session.scalars(select(AuditEntry).where(AuditEntry.entity != "import"))
    }
    assert ("enterprise", "name", "杭州云帆科技有限公司", "杭州云帆智能科技有限公司") in audit


BAD = f"""企业名称,统一社会信用代码,组织机构代码,行政区划代码
好公司,{U1},,320500
,{U2},,330100
校验错公司,{corrupt(U3)},,440300
重复公司,{U1},,320500
区划错公司,{make_uscc()},,32
机构代码不符公司,{make_uscc()},{U2[8:17]},
"""


def test_a_file_with_bad_rows_imports_nothing_and_reports_each_row(app):
    report = _import(("企业.csv", BAD.encode()))
    assert not report.applied and _count(Enterprise) == 0
    rows = {(e.row, e.column) for e in report.errors}
    assert rows == {
        (3, "企业名称"),
        (4, "统一社会信用代码"),
        (5, "统一社会信用代码"),
        (6, "行政区划代码"),
        (7, "组织机构代码"),
    }
    texts = [e.text() for e in report.errors]
    assert any("第 4 行" in t and "校验位不正确" in t for t in texts), texts
    assert any("第 5 行" in t and "与第 2 行重复" in t for t in texts), texts
    assert "未导入任何数据" in report.summary()[-1]


def test_skip_invalid_imports_the_good_rows(app):
    report = _import(("企业.csv", BAD.encode()), skip=True)
    assert (
        report.applied
        and report.counts["enterprise"].created == 1
        and report.counts["enterprise"].invalid == 5
    )
    assert [e.name for e in session.scalars(select(Enterprise))] == ["好公司"]
    assert "跳过有误的行 5 处" in report.summary()[-1]


def test_account_rows_are_checked_against_enterprises_and_bindings(app):
    _import(("企业.csv", ENTERPRISES.encode()), ("账号.csv", ACCOUNTS.encode()))
    unknown = make_uscc()
    bad = f"""账号,统一社会信用代码,账号状态,是否绑定应用
hengda3,{U1},正常,是
ghost,{unknown},正常,否
yunfan,{U1},正常,否
weird,{U2},冻结,否
dead,{U2},已注销,是
"""
    report = _import(("账号.csv", bad.encode()))
    assert not report.applied
    by_row = {e.row: e.message for e in report.errors}
    assert "重复绑定" in by_row[2] and "zxkt_hengda" in by_row[2]
    assert "未知企业" in by_row[3]
    assert "另一家企业" in by_row[4]
    assert "无法识别" in by_row[5]
    assert "已注销的账号不能绑定应用" in by_row[6]


def test_gb18030_csv_is_detected(app):
    report = _import(("企业.csv", ENTERPRISES.encode("gb18030")))
    assert report.applied and any("GB18030" in n for n in report.notes)
    assert lookup.by_uscc(U3).name == "深圳（前海）星辰供应链有限公司"


def test_header_synonyms_and_notes_are_accepted(app):
    text = f"公司名称*,社会信用代码（必填）,所在地区,电子邮箱\n苏州恒达贸易有限公司,{U1},苏州市,a@b.cn\n"
    report = _import(("x.csv", text.encode()))
    assert report.applied and lookup.by_uscc(U1).division_name == "苏州市"


def _workbook() -> bytes:
    book = Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["本文件由平台导出"])
    ents = book.create_sheet("企业")
    ents.append(["企业信息导出"])  # a title row above the header
    ents.append(["企业名称", "统一社会信用代码", "行政区划"])
    ents.append(["苏州恒达贸易有限公司", U1, "苏州市"])
    ents.append(["杭州云帆科技有限公司", U2, "杭州市"])
    accs = book.create_sheet("账号")
    accs.append(["账号", "统一社会信用代码", "账号状态", "是否绑定应用"])
    accs.append(["zxkt_hengda", U1, "正常", True])
    accs.append(["hengda2", U1, "正常", False])
    quals = book.create_sheet("资质")
    quals.append(["组织机构代码", "年度", "审核状态", "允许修改资料", "所属行业", "主营业务", "从业人数"])
    quals.append([f"{U1[8:16]}-{U1[16]}", 2026, "已公示", "否", "批发和零售业", "进出口贸易", 35])
    quals.append([U2[8:17], 2026.0, "未审核", "是", "制造业", "", None])
    projs = book.create_sheet("项目")
    projs.append(["统一社会信用代码", "项目名称", "项目状态", "年度", "申报时企业名称", "申报时行政区划"])
    projs.append([U1, "2026年境外展会项目", "已受理", 2026, "苏州恒达贸易有限公司", "苏州市"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_workbook_with_a_sheet_per_kind(app):
    report = _import(("平台导出.xlsx", _workbook()))
    assert report.applied and not report.errors, [e.text() for e in report.errors]
    assert [k for _s, k, _n in report.tables] == ["enterprise", "account", "qualification", "project"]
    q = session.scalar(select(Qualification).where(Qualification.enterprise_id == lookup.by_uscc(U1).id))
    assert (q.fund_year, q.review_status, q.allow_modify, q.headcount) == (2026, "已公示", False, 35)
    q2 = session.scalar(select(Qualification).where(Qualification.enterprise_id == lookup.by_uscc(U2).id))
    assert (q2.allow_modify, q2.headcount, q2.industry) == (True, None, "制造业")
    p = session.scalars(select(ProjectApplication)).one()
    assert (p.name, p.filed_company_name, p.fund_year) == ("2026年境外展会项目", "苏州恒达贸易有限公司", 2026)
    again = _import(("平台导出.xlsx", _workbook()))
    assert again.counts["qualification"].unchanged == 2 and again.counts["project"].unchanged == 1


def test_unreadable_files_are_refused_as_a_whole(app):
    with pytest.raises(importer.ImportFileError, match="表头无法识别"):
        _import(("x.csv", "甲,乙,丙\n1,2,3\n".encode()))
    with pytest.raises(importer.ImportFileError, match="xls"):
        _import(("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100))
    with pytest.raises(importer.ImportFileError, match="空文件"):
        _import(("empty.csv", b"  \n"))


def test_missing_required_column_refuses_the_table(app):
    report = _import(("账号.csv", "账号,账号状态\nabc,正常\n".encode()))
    assert not report.applied and "缺少必需的列" in report.errors[0].message


def test_cli_import_records_with_progress_and_exit_status(app, tmp_path):
    ent = tmp_path / "企业.csv"
    ent.write_bytes(BAD.encode("gb18030"))
    runner = app.test_cli_runner()
    result = runner.invoke(helpdesk_group, ["import-records", str(ent)])
    assert result.exit_code == 1
    assert "第 4 行" in result.output and "未导入任何数据" in result.output
    assert _count(Enterprise) == 0
    result = runner.invoke(helpdesk_group, ["import-records", "--skip-invalid", str(ent)])
    assert result.exit_code == 1 and "已导入" in result.output
    assert _count(Enterprise) == 1
    good = tmp_path / "ok.csv"
    good.write_text(ENTERPRISES, encoding="utf-8")
    result = runner.invoke(helpdesk_group, ["import-records", str(good)])
    assert result.exit_code == 0, result.output


SHARED_STRINGS_REL = (
    b'<Relationship Id="rIdSharedStrings" Target="sharedStrings.xml" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
)
SHARED_STRINGS_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def _with_shared_strings(workbook: bytes, content: bytes, *, extra: int = 0) -> bytes:
    """`workbook` (openpyxl writes inline strings) given a sharedStrings part, plus `extra` tiny members."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", SHARED_STRINGS_REL + b"</Relationships>")
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            dst.writestr(info, data)
        dst.writestr("xl/sharedStrings.xml", content)
        for i in range(extra):
            dst.writestr(f"customXml/item{i}.xml", b"<x/>")
    return out.getvalue()


def _shared_strings(items: Iterable[bytes]) -> bytes:
    body = b"".join(b"<si><t>" + t + b"</t></si>" for t in items)
    return b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + body + b"</sst>"


def _enterprise_workbook(names: list[str]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["企业名称", "统一社会信用代码"])
    for i, name in enumerate(names):
        sheet.append([name, make_uscc(f"{320500 + i}")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_zip_bomb_is_refused_before_openpyxl_and_imports_nothing(app, monkeypatch):
    opened: list[object] = []
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: opened.append(a) or pytest.fail("opened"))
    good = _enterprise_workbook(["苏州恒达贸易有限公司"])
    # three million shared strings: 51 MB of XML that deflates to a few hundred KB
    bomb = _with_shared_strings(good, _shared_strings([b"x"] * 3_000_000))
    assert len(bomb) < 1024 * 1024
    with pytest.raises(importer.ImportFileError, match="炸弹") as refused:
        _import(("炸弹.xlsx", bomb))
    assert str(refused.value).startswith("炸弹.xlsx 无法作为 XLSX 工作簿打开：") and "CSV" in str(
        refused.value
    )
    many = _with_shared_strings(good, _shared_strings([b"x"]), extra=2100)
    with pytest.raises(importer.ImportFileError, match="文件过多"):
        _import(("多文件.xlsx", many))
    assert opened == [] and _count(Enterprise) == 0


def test_xlsx_with_too_many_shared_strings_is_refused(app, monkeypatch):
    names = [f"测试企业{i}有限公司" for i in range(12)]
    strings = _shared_strings(f"字符串{i}".encode() for i in range(26))
    workbook = _with_shared_strings(_enterprise_workbook(names), strings)
    monkeypatch.setattr(importer.read, "MAX_SHARED_STRINGS", 25)
    with pytest.raises(importer.ImportFileError, match="共享字符串多达 26 个"):
        _import(("企业.xlsx", workbook))
    assert _count(Enterprise) == 0
    monkeypatch.setattr(importer.read, "MAX_SHARED_STRINGS", 26)
    assert _import(("企业.xlsx", workbook)).applied and _count(Enterprise) == 12
