from __future__ import annotations

from recaug.validate.report import BatchReport, Failure, printable, sample_repr


def test_long_values_are_truncated_with_their_length():
    text = sample_repr("x" * 1_000_000)
    assert len(text) < 120 and "1,000,000 chars" in text


def test_summary_names_file_column_rule_count_and_samples():
    failure = Failure(
        file="interactions.csv", column="rating", rule="rating range", expectation="expect_column_values_to_be_between",
        unexpected_count=2, element_count=10, sample_values=["9.0", "-1.0"], sample_rows=[3, 7],
    )
    report = BatchReport(batch="2026-01-02", accepted=False, validated_at="t", failures=[failure])
    assert "interactions.csv, column 'rating': rule 'rating range'" in report.summary()
    assert "2 of 10 rows, e.g. 9.0 (row 3), -1.0 (row 7)" in report.summary()


def test_names_that_would_rewrite_the_terminal_are_escaped():
    assert printable("2026-01-02") == "2026-01-02"
    assert printable("a\nb") == "'a\\nb'"
    assert printable("photo\u202egnp") == "'photo\\u202egnp'"
    failure = Failure(file="x\u202e.csv", column="title\n", rule="type")
    assert "\u202e" not in failure.line() and "\n" not in failure.line()
