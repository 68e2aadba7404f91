"""What validation found, as data (report.json) and as words (the CLI summary)."""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, Field


class Failure(BaseModel):
    """One broken rule in one file: enough to find and fix the offending rows."""

    file: str = Field(description="file name inside the batch")
    table: str | None = Field(None, description="interactions | items | users")
    column: str | None = Field(None, description="column the rule applies to (None for file/table rules)")
    rule: str = Field(description="short rule name, e.g. 'rating range'")
    expectation: str | None = Field(None, description="Great Expectations expectation type, None for file-level rules")
    description: str = ""
    unexpected_count: int | None = None
    element_count: int | None = None
    sample_values: list[str] = Field(default_factory=list, description="offending values (truncated reprs)")
    sample_rows: list[int] = Field(default_factory=list, description="1-based data rows (CSV line = row + 1)")
    details: str = Field("", description="extra facts: observed columns, parser message...")

    def line(self) -> str:
        where = printable(self.file) + (f", column {printable(self.column)!r}" if self.column else "")
        what = f"rule '{self.rule}'"
        if self.expectation:
            what += f" ({self.expectation})"
        text = f"{where}: {what} failed"
        if self.unexpected_count is not None:
            total = f" of {self.element_count}" if self.element_count is not None else ""
            text += f" for {self.unexpected_count}{total} rows"
        if self.sample_values:
            pairs = [
                f"{value} (row {row})" if row is not None else value
                for value, row in zip(self.sample_values, self.sample_rows + [None] * len(self.sample_values))
            ]
            text += ", e.g. " + ", ".join(pairs)
        if self.details:
            text += f"; {self.details}"
        return text


class FileReport(BaseModel):
    file: str
    table: str | None = None
    bytes: int
    sha256: str
    rows: int | None = None


class BatchReport(BaseModel):
    """The verdict on one landing batch (also written as quarantine/<batch>/report.json)."""

    batch: str
    accepted: bool
    files: list[FileReport] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    validated_at: str
    great_expectations_version: str | None = None
    data_docs: str | None = Field(None, description="index.html of the GX data docs, when rendered")

    def summary(self) -> str:
        if self.accepted:
            rows = ", ".join(f"{f.file}: {f.rows} rows" for f in self.files)
            return f"batch {printable(self.batch)}: accepted ({rows})"
        lines = [f"batch {printable(self.batch)}: rejected, {len(self.failures)} rule(s) broken"]
        lines += [f"  - {failure.line()}" for failure in self.failures]
        if self.data_docs:
            lines.append(f"  data docs: {self.data_docs}")
        return "\n".join(lines)


def printable(text: str) -> str:
    """`text` as is when it shows as what it is on a terminal, else its escaped form: a name
    with a newline, a direction override or invalid bytes must not rewrite the report's lines."""
    if text.isprintable() and not any(unicodedata.category(c) == "Cf" for c in text):
        return text
    return ascii(text)


def sample_repr(value, limit: int = 80) -> str:
    """A short, printable form of an offending value (a 1 MB text must not flood a report)."""
    text = repr(value)
    if len(text) > limit:
        length = f"{len(value):,} chars" if isinstance(value, (str, bytes)) else f"{len(text):,} chars as repr"
        text = f"{text[:limit]}... ({length})"
    return text
