"""Exports at 10,000 and 100,000 rows: XLSX (write-only openpyxl) and CSV, seconds and the ratio.

Run by hand: PYTHONPATH=. python bench/exports.py
Linear means the 100k/10k ratio is about 10 (the old quadratic XLSX was about 100).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

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


def change_rows(n: int) -> list[records_export.ChangeRow]:
    return [
        records_export.ChangeRow(
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
        for i in range(n)
    ]


def timed(label: str, fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    took = time.perf_counter() - start
    print(f"  {label:<34} {took:7.2f} s")
    return took


def main() -> None:
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
            print(f"  {name} {fmt} ratio 100k/10k: {times[1] / times[0]:.1f}")


if __name__ == "__main__":
    main()
