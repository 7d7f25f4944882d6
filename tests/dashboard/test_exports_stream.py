"""The write-only XLSX and the streamed CSV hold the same cells as the old exports."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import load_workbook

from helpdesk.dashboard import exports
from helpdesk.records import export as records_export

AT = datetime(2026, 3, 2, 9, 30)


def _table() -> exports.Table:
    cols = [
        exports.Column("主题"),
        exports.Column("收到", exports.DATETIME),
        exports.Column("时长", exports.HOURS),
    ]
    cols += [exports.Column("达标率", exports.PERCENT), exports.Column("次数", exports.INT)]
    rows = [['=HYPERLINK("http://x")', AT, 1.5, 0.5, 3], ["普通主题", None, None, None, 0]]
    return exports.Table(title="超时工单", columns=cols, rows=rows)


def test_streamed_xlsx_has_the_same_cells_and_formula_like_text_stays_text():
    sheet = load_workbook(io.BytesIO(exports.to_xlsx([_table()])))["超时工单"]
    assert [c.value for c in sheet[1]] == ["主题", "收到", "时长", "达标率", "次数"]
    assert all(c.font.bold for c in sheet[1])
    first = sheet[2]
    assert first[0].value == '=HYPERLINK("http://x")' and first[0].data_type == "s"
    assert first[1].value == AT and first[1].number_format == "yyyy-mm-dd hh:mm"
    assert (first[2].value, first[2].number_format) == (1.5, "0.0")
    assert (first[3].value, first[3].number_format) == (0.5, "0.0%")
    assert [c.value for c in sheet[3]] == ["普通主题", None, None, None, 0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:E3"
    assert sheet.column_dimensions["A"].width >= 8


def test_streamed_csv_comes_in_chunks_that_join_to_the_whole_file():
    table = _table()
    table.rows = table.rows * 600  # more than one 500-row chunk
    chunks = list(exports.iter_csv(table))
    assert len(chunks) == 3
    text = b"".join(chunks).decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0] == "主题,收到,时长,达标率,次数"
    assert lines[1] == '"\'=HYPERLINK(""http://x"")",2026-03-02 09:30,1.5,50.0%,3'
    assert len(lines) == 1 + 1200 + 1  # header, rows, the empty string after the last CRLF


def test_records_xlsx_keeps_dates_codes_as_text_and_formula_like_values_as_text():
    row = records_export.ChangeRow(at=AT, ticket="ZXZJ#7", action="变更", company="恒达", uscc="0123",
                                   target="企业", field="名称", before="=1+1", after="007", actor="王客服")  # fmt: skip
    sheet = load_workbook(io.BytesIO(records_export.to_xlsx([row]))).active
    assert sheet.title == "变更记录" and sheet.freeze_panes == "A2"
    cells = sheet[2]
    assert cells[0].value == AT and cells[0].number_format == "yyyy-mm-dd hh:mm:ss"
    assert cells[4].value == "0123" and cells[4].number_format == "@"
    assert cells[7].value == "=1+1" and cells[7].data_type == "s"
    assert cells[8].value == "007" and cells[8].number_format == "@"
    assert [c.value for c in sheet[1]][:3] == ["办理时间", "工单号", "操作"] and sheet[1][0].font.bold


def test_every_text_stays_text_and_odd_characters_survive():
    from datetime import date

    from helpdesk import xlsx

    texts = ["=1+1", "+86 10", "-3", "@SUM(A1)", " 前后空格 ", 'A&B <c> "d"', "响铃\x07字符"]
    rows = [[t, n, True, date(2026, 3, 2)] for n, t in enumerate(texts)]
    sheet = xlsx.Sheet("表", ["文本", "数", "布尔", "日期"], rows, widths=[20, 8, 8, 12], formats=[None, "0", None, "yyyy-mm-dd"])  # fmt: skip
    book = load_workbook(io.BytesIO(xlsx.workbook_bytes([sheet])))["表"]
    got = [[c.value for c in r] for r in book.iter_rows(min_row=2)]
    want = [[t.replace("\x07", ""), n, True, datetime(2026, 3, 2)] for n, t in enumerate(texts)]
    assert got == want
    assert all(r[0].data_type == "s" for r in book.iter_rows(min_row=2))
    assert sheet.written == len(texts) and book.auto_filter.ref == f"A1:D{len(texts) + 1}"
