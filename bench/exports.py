"""Exports at 10,000 and 100,000 rows: XLSX and CSV, seconds and the ratio (run by hand).

    PYTHONPATH=. python3 bench/exports.py                    # baseline at 10,000 rows only
    PYTHONPATH=. python3 bench/exports.py --baseline-rows 100000

Linear means the 100k/10k ratio is about 10 (the old quadratic XLSX was about 100). The baseline,
measured in the same run, is the previous writer: openpyxl's write-only mode with a WriteOnlyCell
for every formatted value (kept below as it was). The last lines stream the records export from a
row generator chunk by chunk and print the peak of Python memory (tracemalloc): flat means it does
not grow with the rows.
"""

from __future__ import annotations

import argparse
import io
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from helpdesk.dashboard import exports
from helpdesk.records import export as records_export

START = datetime(2026, 1, 5, 9, 0)


def dashboard_table(n: int) -> exports.Table:
    cols = [exports.Column("工单号"), exports.Column("类型"), exports.Column("收到", exports.DATETIME)]
    cols += [exports.Column("截止", exports.DATETIME), exports.Column("超时", exports.DATETIME)]
    cols += [exports.Column("处理时长", exports.HOURS), exports.Column("达标率", exports.PERCENT)]
    cols += [
        exports.Column("次数", exports.INT),
        exports.Column("主题"),
        exports.Column("企业"),
        exports.Column("处理人"),
    ]
    rows = [
        [f"ZXZJ#{i}", "变更", START + timedelta(minutes=i), START + timedelta(days=2, minutes=i),
         START + timedelta(days=3, minutes=i), 13.5, 0.95, i % 7, f"=变更说明 {i}" if i % 50 == 0 else f"变更说明 {i}",
         "苏州恒达贸易有限公司", "王客服"]
        for i in range(n)
    ]  # fmt: skip
    return exports.Table(title="超时工单", columns=cols, rows=rows)


def iter_change_rows(n: int) -> Iterator[records_export.ChangeRow]:
    for i in range(n):
        yield records_export.ChangeRow(
            at=START + timedelta(minutes=i),
            ticket=f"ZXZJ#{i}",
            action="变更",
            company="苏州恒达贸易有限公司",
            uscc="91320500MA1XXXXXX1",
            target="企业",
            field="统一社会信用代码",
            before="0123",
            after=f"={i}" if i % 50 == 0 else "4567",
            actor="王客服",
        )  # fmt: skip


def change_rows(n: int) -> list[records_export.ChangeRow]:
    return list(iter_change_rows(n))


def openpyxl_write_only(tables: list[exports.Table]) -> bytes:
    """The baseline: the dashboard's previous to_xlsx (openpyxl write-only, a cell object per formatted value)."""
    wb = Workbook(write_only=True)
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="EEF2F6")
    for table in tables:
        ws = wb.create_sheet(table.title[:31])
        for idx, col in enumerate(table.columns, start=1):
            widest = max(
                [exports._width(col.header, exports.TEXT)]
                + [exports._width(r[idx - 1], col.kind) for r in table.rows[:2000]]
            )
            ws.column_dimensions[get_column_letter(idx)].width = min(60, max(8, widest + 2))
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{len(table.rows) + 1}"
        header = []
        for col in table.columns:
            cell = WriteOnlyCell(ws, value=col.header)
            cell.font, cell.fill, cell.alignment = head_font, head_fill, Alignment(vertical="center")
            header.append(cell)
        ws.append(header)
        formats = [exports._FORMATS.get(col.kind) for col in table.columns]
        for row in table.rows:
            out = []
            for value, fmt in zip(row, formats, strict=True):
                if isinstance(value, str) and value.startswith("="):
                    cell = WriteOnlyCell(ws, value=value)
                    cell.data_type = "s"
                    out.append(cell)
                elif fmt is None or value is None:
                    out.append(value)
                else:
                    cell = WriteOnlyCell(ws, value=value)
                    cell.number_format = fmt
                    out.append(cell)
            ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def timed(label: str, fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    took = time.perf_counter() - start
    print(f"  {label:<44} {took:7.2f} s", flush=True)
    return took


def streamed_peak(n: int, fmt: str) -> float:
    """Peak Python memory (MB) of writing n records rows from a generator, chunk by chunk."""
    iterate = records_export.iter_xlsx if fmt == "xlsx" else records_export.iter_csv
    tracemalloc.start()
    size = sum(len(chunk) for chunk in iterate(iter_change_rows(n)))
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(
        f"  records {fmt} streamed {n:>7,} rows: {size / 1e6:6.1f} MB file, peak memory {peak:5.1f} MB",
        flush=True,
    )
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-rows", type=int, default=10_000, help="rows of the openpyxl baseline")
    args = parser.parse_args()
    base_table = dashboard_table(args.baseline_rows)
    baseline = timed(
        f"baseline openpyxl write-only {args.baseline_rows:>7,} rows",
        lambda: openpyxl_write_only([base_table]),
    )
    for name, make, runs in (
        ("dashboard", dashboard_table, (("xlsx", exports.to_xlsx, True), ("csv", exports.to_csv, False))),
        (
            "records",
            change_rows,
            (("xlsx", records_export.to_xlsx, False), ("csv", records_export.to_csv, False)),
        ),
    ):
        for fmt, fn, in_list in runs:
            times = []
            for n in (10_000, 100_000):
                data = make(n)
                arg = [data] if in_list else data
                times.append(timed(f"{name} {fmt} {n:>7,} rows", lambda fn=fn, arg=arg: fn(arg)))
                if name == "dashboard" and fmt == "xlsx" and n == args.baseline_rows:
                    print(
                        f"  dashboard xlsx against the baseline at {n:,} rows: {baseline / times[-1]:.1f}x faster"
                    )
            print(f"  {name} {fmt} ratio 100k/10k: {times[1] / times[0]:.1f}", flush=True)
    for fmt in ("xlsx", "csv"):
        small, large = streamed_peak(10_000, fmt), streamed_peak(100_000, fmt)
        print(f"  records {fmt} streamed: peak memory 100k/10k {large / small:.1f} (flat: about 1)")


if __name__ == "__main__":
    main()
