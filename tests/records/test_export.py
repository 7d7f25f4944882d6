"""Export of applied changes for the platform team: CLI and formats."""

from __future__ import annotations

import io
from datetime import date, timedelta

from openpyxl import load_workbook

from helpdesk.cli import helpdesk as helpdesk_group
from helpdesk.db import session
from helpdesk.records import export, importer
from helpdesk.tickets import resolve
from tests.records.factories import make_enterprise, make_ticket, make_uscc


def _two_changes(users) -> None:
    ent = make_enterprise(accounts=("zxkt_hengda", "hengda2"))
    unbind = make_ticket("unbind", enterprise=ent, company_name=ent.name, target_accounts=["zxkt_hengda"])
    change = make_ticket("change", enterprise=ent, company_name=ent.name, subject="变更说明")
    recovery = make_ticket("recovery", enterprise=ent, subject="找回账号")
    session.commit()
    resolve.apply_resolution(unbind, "unbind", {"account": "zxkt_hengda"}, by=users["agent"])
    resolve.apply_resolution(change, "change", {"new_uscc": make_uscc()}, by=users["agent"])
    resolve.apply_resolution(recovery, "recovery", {}, by=users["agent"])


def test_export_changes_cli_csv_and_xlsx(app, users, tmp_path):
    _two_changes(users)
    runner = app.test_cli_runner()
    out = tmp_path / "changes.csv"
    today = date.today()
    result = runner.invoke(helpdesk_group, ["export-changes", "--since", (today - timedelta(days=1)).isoformat(),
                                            "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(export.HEADERS)
    # unbind (1 field) + change (USCC, organisation code, review status); recovery is not exported
    assert len(lines) == 1 + 4 and sum("统一社会信用代码" in line for line in lines[1:]) >= 1
    assert all("找回" not in line for line in lines)
    xlsx = tmp_path / "changes.xlsx"
    result = runner.invoke(helpdesk_group, ["export-changes", "--since", today.isoformat(), "--until",
                                            (today + timedelta(days=1)).isoformat(), "--format", "xlsx", "-o", str(xlsx)])  # fmt: skip
    assert result.exit_code == 0 and "已导出 4 条" in result.output
    sheet = load_workbook(io.BytesIO(xlsx.read_bytes())).active
    assert [c.value for c in sheet[1]] == list(export.HEADERS)
    assert sheet.max_row == 5 and sheet["A2"].is_date and sheet.freeze_panes == "A2"


def test_export_range_excludes_other_days(app, users):
    _two_changes(users)
    tz = app.config["HELPDESK"].timezone
    data, name, count = export.export(date(2000, 1, 1), date(2000, 1, 2), "csv", tz)
    assert count == 0 and name.endswith(".csv") and data.decode("utf-8-sig").count("\n") == 1


def test_bad_date_is_a_usage_error(app):
    result = app.test_cli_runner().invoke(helpdesk_group, ["export-changes", "--since", "2026/01/01"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_progress_is_reported_for_every_row_twice(app):
    text = "企业名称,统一社会信用代码\n" + "".join(f"公司{i},{make_uscc()}\n" for i in range(50))
    seen: list[int] = []
    report = importer.import_files([("企业.csv", text.encode())], progress=seen.append)
    assert report.applied and sum(seen) == 100


def test_values_from_letters_never_become_spreadsheet_formulas():
    from datetime import datetime

    row = export.ChangeRow(datetime(2026, 11, 26, 9, 30), "ZXZJ#1", "变更", '=HYPERLINK("http://x","y")', "", "企业",
                           "企业名称", "@SUM(A1)", "-12", "王客服")  # fmt: skip
    text = export.to_csv([row]).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM" in text and ",-12," in text
    sheet = load_workbook(io.BytesIO(export.to_xlsx([row]))).active
    assert sheet["D2"].data_type == "s" and sheet["D2"].value.startswith("=HYPERLINK")


def test_streamed_download_holds_the_same_rows_as_the_whole_export(app, users, admin_client):
    """1,200 audit rows (more than one fetch batch and one 500-row chunk): the CSV streamed to the
    response equals the whole file, row for row, and the streamed XLSX has the same cells."""
    from datetime import UTC, datetime

    from helpdesk.records import export as records_export
    from helpdesk.records.models import AuditEntry

    ent = make_enterprise(accounts=("zxkt_stream",))
    first = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    for i in range(1200):
        session.add(AuditEntry(at=first + timedelta(minutes=i), actor_id=users["agent"].id, enterprise_id=ent.id,
                               action="change", entity="enterprise", entity_id=str(ent.id), field="uscc",
                               before=f"00{i}", after="=1+1" if i % 100 == 0 else f"新值{i}"))  # fmt: skip
    session.commit()
    records_export.BATCH, batch = 250, records_export.BATCH  # several fetches per export
    try:
        response = admin_client.get("/records/export/download?since=2026-03-01&until=2026-03-31&format=csv")
        streamed = b"".join(response.response)  # the chunks as the server sends them
        xlsx_data = admin_client.get(
            "/records/export/download?since=2026-03-01&until=2026-03-31&format=xlsx"
        ).data
    finally:
        records_export.BATCH = batch
    tz = app.config["HELPDESK"].timezone
    whole, _name, count = export.export(date(2026, 3, 1), date(2026, 3, 31), "csv", tz)
    assert response.is_streamed and count == 1200 and streamed == whole
    lines = streamed.decode("utf-8-sig").splitlines()
    assert len(lines) == 1201 and "'=1+1" in lines[1]
    sheet = load_workbook(io.BytesIO(xlsx_data)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    expected = export.changes_between(export.local_midnight(date(2026, 3, 1), tz),
                                      export.local_midnight(date(2026, 4, 1), tz), tz)  # fmt: skip
    assert len(rows) == 1200 and [tuple(None if v == "" else v for v in r.cells()) for r in expected] == rows
    assert sheet["H2"].value == "000" and sheet["I2"].value == "=1+1" and sheet["I2"].data_type == "s"
