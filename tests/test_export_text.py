"""CSV, TSV, JSON and JSON Lines output, format resolution and atomic files."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import manireports.export as export_module
from manireports.errors import InputError, RunError
from manireports.export import (
    Column,
    ExportOptions,
    ReportTable,
    available_formats,
    export,
    register_writer,
    resolve_format,
)
from manireports.export.values import number_text

LONDON = zoneinfo.ZoneInfo("Europe/London")
COLUMNS = [
    Column("userid", "int"),
    Column("fullname", title="Full name"),
    Column("email"),
    Column("enrolled", "timestamp"),
    Column("completed", "bool"),
    Column("timecompleted", "timestamp"),
    Column("score", "float"),
    Column("note"),
    Column("enroldate", "date"),
]
ROWS: list[tuple[Any, ...]] = [
    (1, "Zoë Ångström", "zoe@example.com", 1710000000, 1, 1711929600, Decimal("85.50"),
     'Says "hi", then leaves', "2024-03-05"),
    (2, "Łukasz Nowak", "lukasz@example.com", 1719835200, 0, 0, None,
     "line one\nline two", date(2024, 7, 1)),
    (3, "田中 太郎", None, 1704067200, True, None, 12.25, "tab\there", None),
    (4, "Ольга, Αλέξανδρος", "olga@example.com", 0, False, 1719835200, 3, "", "2024-12-31"),
]  # fmt: skip

GOLDEN_CSV = (
    "userid,fullname,email,enrolled,completed,timecompleted,score,note,enroldate\r\n"
    "1,Zoë Ångström,zoe@example.com,2024-03-09 16:00:00,true,2024-04-01 01:00:00,85.5,"
    '"Says ""hi"", then leaves",2024-03-05\r\n'
    '2,Łukasz Nowak,lukasz@example.com,2024-07-01 13:00:00,false,,,"line one\nline two",'
    "2024-07-01\r\n"
    "3,田中 太郎,,2024-01-01 00:00:00,true,,12.25,tab\there,\r\n"
    '4,"Ольга, Αλέξανδρος",olga@example.com,,false,2024-07-01 13:00:00,3,,2024-12-31\r\n'
)
GOLDEN_JSON = (
    "[\n"
    '{"userid":1,"fullname":"Zoë Ångström","email":"zoe@example.com",'
    '"enrolled":"2024-03-09 16:00:00","completed":true,"timecompleted":"2024-04-01 01:00:00",'
    '"score":85.5,"note":"Says \\"hi\\", then leaves","enroldate":"2024-03-05"},\n'
    '{"userid":2,"fullname":"Łukasz Nowak","email":"lukasz@example.com",'
    '"enrolled":"2024-07-01 13:00:00","completed":false,"timecompleted":null,'
    '"score":null,"note":"line one\\nline two","enroldate":"2024-07-01"},\n'
    '{"userid":3,"fullname":"田中 太郎","email":null,'
    '"enrolled":"2024-01-01 00:00:00","completed":true,"timecompleted":null,'
    '"score":12.25,"note":"tab\\there","enroldate":null},\n'
    '{"userid":4,"fullname":"Ольга, Αλέξανδρος","email":"olga@example.com",'
    '"enrolled":null,"completed":false,"timecompleted":"2024-07-01 13:00:00",'
    '"score":3,"note":"","enroldate":"2024-12-31"}\n'
    "]\n"
)


def make_table(
    rows: Iterable[tuple[Any, ...]] = ROWS, columns: list[Column] = COLUMNS
) -> ReportTable:
    return ReportTable(
        title="Course completion",
        columns=columns,
        rows=iter(rows),
        parameters={"courseid": "7"},
        generated_at=datetime(2024, 7, 2, 9, 30, tzinfo=LONDON),
        timezone=LONDON,
    )


def render(fmt: str, table: ReportTable | None = None, **options: Any) -> bytes:
    stream = io.BytesIO()
    result = export(table or make_table(), fmt, stream, ExportOptions(**options))
    assert result.path is None
    return stream.getvalue()


def test_csv_matches_golden_file() -> None:
    assert render("csv") == GOLDEN_CSV.encode("utf-8")


def test_csv_reads_back_with_the_csv_module() -> None:
    rows = list(csv.reader(io.StringIO(render("csv").decode("utf-8"), newline="")))
    assert rows[1][7] == 'Says "hi", then leaves'
    assert rows[2][7] == "line one\nline two"
    assert rows[4][1] == "Ольга, Αλέξανδρος"


def test_csv_bom_only_when_asked() -> None:
    assert render("csv", bom=True) == b"\xef\xbb\xbf" + GOLDEN_CSV.encode("utf-8")
    assert not render("csv").startswith(b"\xef\xbb\xbf")


def test_json_matches_golden_file_and_parses() -> None:
    data = render("json")
    assert data == GOLDEN_JSON.encode("utf-8")
    parsed = json.loads(data)
    assert parsed[1]["timecompleted"] is None
    assert parsed[0]["completed"] is True


def test_json_of_no_rows_is_an_empty_array() -> None:
    assert json.loads(render("json", make_table([]))) == []


def test_jsonl_is_one_object_per_line() -> None:
    lines = render("jsonl").decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(GOLDEN_JSON)


def test_tsv_replaces_tabs_and_newlines_inside_values() -> None:
    text = render("tsv").decode("utf-8")
    lines = text.split("\n")
    assert lines[0] == "\t".join(column.name for column in COLUMNS)
    assert lines[1].split("\t")[7] == 'Says "hi", then leaves'
    assert lines[2].split("\t")[7] == "line one line two"
    assert lines[3].split("\t")[7] == "tab here"
    assert lines[4].split("\t")[1] == "Ольга, Αλέξανδρος"
    assert all(line.count("\t") == len(COLUMNS) - 1 for line in lines[:-1])
    assert text.endswith("\n") and "\r" not in text


def test_tsv_bom() -> None:
    assert render("tsv", bom=True).startswith(b"\xef\xbb\xbfuserid\t")


TRICKY = ["a", "", None, "x,y", 'q"q', "l\nl", "cr\rx", " sp ", "\x00", "é", 5, 1.5,
          Decimal("2.50"), True, "=1+1"]  # fmt: skip


@pytest.mark.parametrize("width", [1, 2, 3])
def test_csv_fast_path_writes_what_csv_writer_writes(width: int) -> None:
    generator = random.Random(width)
    rows = [tuple(generator.choice(TRICKY) for _ in range(width)) for _ in range(2500)]
    rows[0] = tuple("" for _ in range(width))
    columns = [Column(f"c{index}") for index in range(width)]
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow([column.name for column in columns])
    # Numbers are written alike on every engine: Decimal('2.50') as 2.5.
    writer.writerows(
        tuple(number_text(v) if isinstance(v, Decimal) else v for v in row) for row in rows
    )
    assert render("csv", make_table(rows, columns)) == expected.getvalue().encode("utf-8")


def _spreadsheet_safe(text: str) -> str:
    """The formula guard's rule, written out: a cell starting like a formula that is not a
    number gets a leading apostrophe."""
    number = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not number else text


@pytest.mark.parametrize("guard", [False, True])
def test_csv_of_typed_columns_writes_what_csv_writer_writes(guard: bool) -> None:
    """Columns of one type per chunk (text, text or NULL, integers, Decimals or NULL) take their
    own paths; a chunk with nothing to quote or guard takes the quickest."""
    generator = random.Random(11)
    texts = ["plain", "x,y", 'q"q', "l\nl", "cr\rx", "=1+1", "-12.5", "@sum", "+x", "\tt", "", "é"]
    figures = [None, Decimal("85.70"), Decimal("100.00"), Decimal("0"), Decimal("-0.50")]
    rows = [
        (number, generator.choice(texts), generator.choice([*texts, None]),
         generator.choice(figures), generator.choice(["plain", "also plain"]))
        for number in range(3500)
    ]  # fmt: skip
    rows[1500:2500] = [(number, "plain", None, Decimal("1.50"), "x") for number in range(1000)]
    columns = [Column("id", "int"), Column("a"), Column("b"), Column("score", "float"), Column("c")]
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow([column.name for column in columns])
    for number, first, second, score, third in rows:
        cells = ["" if value is None else value for value in (first, second, third)]
        if guard:
            cells = [_spreadsheet_safe(cell) for cell in cells]
        shown = "" if score is None else number_text(score)
        writer.writerow([number, cells[0], cells[1], shown, cells[2]])
    written = render("csv", make_table(rows, columns), formula_guard=guard)
    assert written == expected.getvalue().encode("utf-8")


def test_progress_every_ten_thousand_rows_and_at_the_end() -> None:
    calls: list[int] = []
    rows = [(number, "x") for number in range(25_000)]
    columns = [Column("n", "int"), Column("x")]
    for fmt in ("csv", "json"):
        calls.clear()
        render(fmt, make_table(rows, columns), progress=calls.append)
        assert calls == [10_000, 20_000, 25_000]


def test_duplicate_column_names_are_refused() -> None:
    table = make_table([], [Column("id", "int"), Column("id", "int")])
    with pytest.raises(InputError, match="two columns named 'id'"):
        render("csv", table)


def test_a_row_of_the_wrong_width_stops_the_export() -> None:
    table = make_table([(1, "a"), (2,)], [Column("n", "int"), Column("x")])
    with pytest.raises(RunError, match="Row 2 of the report has 1 values for 2 columns"):
        render("csv", table)


def test_generation_time_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ReportTable("t", [], [], {}, datetime(2024, 1, 1), LONDON)


# --- format resolution ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "output", "terminal", "expected"),
    [
        ("csv", None, True, "csv"),
        ("XLSX", "report.xlsx", False, "xlsx"),
        ("XLSX", "report.custom", False, "xlsx"),
        (None, "out/report.TSV", True, "tsv"),
        (None, "report.json", True, "json"),
        (None, "report.jsonl", True, "jsonl"),
        (None, "report.ndjson", True, "jsonl"),
        (None, "report.xlsx", True, "xlsx"),
        (None, "report.pdf", True, "pdf"),
        (None, "report.html", True, "html"),
        (None, "report.htm", True, "html"),
        (None, None, True, "table"),
        (None, None, False, "csv"),
        ("pdf", None, False, "pdf"),
        ("xlsx", None, False, "xlsx"),
    ],
)
def test_resolve_format(fmt: str | None, output: str | None, terminal: bool, expected: str) -> None:
    assert resolve_format(fmt, output, terminal) == expected


def test_unknown_format_names_it_and_the_choices() -> None:
    with pytest.raises(InputError) as caught:
        resolve_format("yaml", None, True)
    message = str(caught.value)
    assert "'yaml'" in message
    assert all(name in message for name in ("csv", "tsv", "json", "jsonl", "xlsx", "pdf", "html"))


def test_unknown_extension_names_it_and_the_choices() -> None:
    with pytest.raises(InputError, match=r"'\.txt'.*--format"):
        resolve_format(None, "report.txt", False)
    with pytest.raises(InputError, match="no extension"):
        resolve_format(None, "report", False)


def test_a_format_that_contradicts_the_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--format pdf does not match the file name 'out\.csv'"):
        resolve_format("pdf", "out.csv", False)
    with pytest.raises(InputError, match="is a directory"):
        resolve_format(None, str(tmp_path), False)
    assert resolve_format("html", "page.htm", False) == "html"


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_binary_format_refuses_a_terminal_without_output(fmt: str) -> None:
    with pytest.raises(InputError, match="needs -o FILE"):
        resolve_format(fmt, None, True)


def test_registered_writer_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "_WRITERS", dict(export_module._WRITERS))

    def table_writer(table: ReportTable, stream: Any, options: ExportOptions) -> int:
        stream.write(b"rendered")
        return sum(1 for _ in table.rows)

    register_writer("table", table_writer)
    assert "table" in available_formats()
    stream = io.BytesIO()
    assert export(make_table(), "table", stream).rows == 4
    assert stream.getvalue() == b"rendered"


def test_export_refuses_an_unknown_format() -> None:
    with pytest.raises(InputError, match="Unknown format 'yaml'"):
        render("yaml")


# --- files ---------------------------------------------------------------------------------


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An empty directory of its own (tmp_path also holds the test's HOME)."""
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def failing_rows(after: int, error: BaseException) -> Iterator[tuple[Any, ...]]:
    for number in range(after):
        yield (number, "Zoë", "z@example.com", 1710000000, 1, 0, 1.5, "n", "2024-01-01")
    raise error


def test_file_is_written_whole(out_dir: Path) -> None:
    target = out_dir / "report.csv"
    result = export(make_table(), "csv", target)
    assert result.rows == 4
    assert result.path == target
    assert target.read_bytes() == GOLDEN_CSV.encode("utf-8")
    assert [path.name for path in out_dir.iterdir()] == ["report.csv"]


@pytest.mark.parametrize("error", [RuntimeError("database gone"), KeyboardInterrupt()])
@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "html"])
def test_failure_half_way_leaves_no_file(out_dir: Path, fmt: str, error: BaseException) -> None:
    target = out_dir / f"report.{fmt}"
    with pytest.raises(type(error)):
        export(make_table(failing_rows(2_500, error)), fmt, target)
    assert list(out_dir.iterdir()) == []


def test_failure_leaves_an_existing_file_untouched(out_dir: Path) -> None:
    target = out_dir / "report.csv"
    target.write_text("last month's report\n")
    with pytest.raises(RuntimeError):
        export(make_table(failing_rows(2_500, RuntimeError("boom"))), "csv", target)
    assert target.read_text() == "last month's report\n"
    assert [path.name for path in out_dir.iterdir()] == ["report.csv"]


def test_missing_directory_is_an_input_error(out_dir: Path) -> None:
    with pytest.raises(InputError, match="does not exist; choose another -o path"):
        export(make_table(), "csv", out_dir / "missing" / "report.csv")


def test_directory_that_is_a_file_is_an_input_error(out_dir: Path) -> None:
    (out_dir / "plain").write_text("")
    with pytest.raises(InputError, match="is not a directory"):
        export(make_table(), "csv", out_dir / "plain" / "report.csv")


def test_unwritable_directory_is_an_input_error(out_dir: Path) -> None:
    locked = out_dir / "locked"
    locked.mkdir(mode=0o500)
    probe = locked / "probe"
    try:
        probe.touch()
    except PermissionError:
        pass
    else:
        probe.unlink()
        pytest.skip("running as root: permissions do not stop writes")
    with pytest.raises(InputError, match="is not writable"):
        export(make_table(), "csv", locked / "report.csv")


def test_output_that_is_a_directory_is_an_input_error(out_dir: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        export(make_table(), "csv", out_dir)


def test_new_file_gets_the_permissions_the_umask_gives(out_dir: Path) -> None:
    target = out_dir / "report.csv"
    previous = os.umask(0o022)
    try:
        export(make_table(), "csv", target)
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o644
