"""What an import reports: errors per row and counts per kind."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpdesk.records.importer.columns import KIND_LABELS, KINDS

# ------------------------------------------------------------------------------------------ report


@dataclass(frozen=True, slots=True)
class RowError:
    """One refused row: where, which column, why (Chinese)."""

    source: str
    row: int  #: 1-based row number as a spreadsheet shows it (the header is a row too)
    column: str
    message: str

    def text(self) -> str:
        column = f" [{self.column}]" if self.column else ""
        where = f"{self.source} 第 {self.row} 行" if self.row else self.source
        return f"{where}{column}：{self.message}"


@dataclass
class KindCount:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0


@dataclass
class ImportReport:
    """What an import found and did; `applied` is False when nothing was written."""

    tables: list[tuple[str, str, int]] = field(default_factory=list)  #: (source, kind, data rows)
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, KindCount] = field(default_factory=lambda: {k: KindCount() for k in KINDS})
    notes: list[str] = field(default_factory=list)
    applied: bool = False
    skip_invalid: bool = False
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> list[str]:
        """The report in Chinese, one line each, without the row errors."""
        lines = [f"{source}：{KIND_LABELS[kind]}，{n} 行" for source, kind, n in self.tables]
        for kind in KINDS:
            c = self.counts[kind]
            if c.rows:
                lines.append(
                    f"{KIND_LABELS[kind]}：新增 {c.created}，更新 {c.updated}，未变 {c.unchanged}，有误 {c.invalid}"
                )
        lines.extend(self.notes)
        if self.applied:
            rate = self.rows / self.seconds if self.seconds else 0
            skipped = f"，跳过有误的行 {len(self.errors)} 处" if self.errors else ""
            lines.append(
                f"已导入{skipped}。共 {self.rows} 行，用时 {self.seconds:.1f} 秒（{rate:,.0f} 行/秒）。"
            )
        elif self.errors:
            lines.append(
                f"发现 {len(self.errors)} 处错误，未导入任何数据。请改正后重新导入，"
                "或选择“跳过有误的行”只导入正确的行。"
            )
        else:
            lines.append("没有导入任何数据。")
        return lines


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not CSV/XLSX, encoding, no header)."""
