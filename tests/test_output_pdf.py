"""PDFs read back as a person reads them (pdftotext) and as a program does (pypdf).

Key columns (ids, usernames, emails, dates) are never cut; long text wraps; empty columns go
with a note; a table too wide for A4 landscape continues on the following pages with its
identifying columns repeated; fonts come with a dependency, missing glyphs are named once in our
own words, fpdf2 says nothing, and a certificate whose recipient cannot be drawn is an error.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
import subprocess
import zoneinfo
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from manireports.export import Column, ExportOptions, ReportTable, export
from manireports.export import fonts as font_search
from manireports.export.fonts import BUNDLED, find_fonts
from tests.cli_runner import invoke

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def table(
    rows: list[tuple[Any, ...]], columns: list[Column], title: str = "Learners"
) -> ReportTable:
    return ReportTable(
        title=title,
        columns=columns,
        rows=iter(rows),
        parameters={},
        generated_at=datetime(2026, 7, 26, 17, 15, tzinfo=PARIS),
        timezone=PARIS,
    )


def pdftotext(path: Path, *extra: str) -> str:
    command = ["pdftotext", "-enc", "UTF-8", *extra, str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def write(target: Path, rows: list[tuple[Any, ...]], columns: list[Column], **options: Any) -> Path:
    export(table(rows, columns), "pdf", target, ExportOptions(**options))
    return target


WIDE = [
    Column("userid", "int"),
    Column("username"),
    Column("email"),
    Column("lastaccess", "timestamp"),
    *[Column(f"notes_{number}") for number in range(8)],
    Column("unused"),
]


def wide_rows() -> list[tuple[Any, ...]]:
    rows = []
    for number in range(40):
        notes = [f"note {index} for learner {number}: " + "words " * 12 for index in range(8)]
        rows.append(
            (
                1000 + number,
                f"student.with.a.long.username{number:02d}",
                f"student.with.a.long.username{number:02d}@learners.example.edu",
                1785078900 + number,
                *notes,
                None,
            )
        )
    return rows


def test_key_columns_whole_long_text_wrapped_empty_column_noted(tmp_path: Path) -> None:
    target = write(tmp_path / "wide.pdf", wide_rows(), WIDE)
    text = pdftotext(target)
    assert "…" not in text
    for number in range(40):
        assert f"student.with.a.long.username{number:02d}@learners.example.edu" in text
        assert f"{1000 + number}" in text
    # 1785078900 is 2026-07-26 15:15:00 UTC, 17:15 in Paris.
    assert "2026-07-26 17:15:00" in text
    assert "Empty in every row, so left out: unused." in " ".join(text.split())
    assert text.count("unused") == 1  # in the note only, no column of that name


def test_a_table_too_wide_for_landscape_continues_with_the_key_columns(tmp_path: Path) -> None:
    target = write(tmp_path / "wide.pdf", wide_rows(), WIDE)
    pages = PdfReader(target).pages
    box = pages[0].mediabox
    assert float(box.width) > float(box.height)  # landscape
    later = [pdftotext(target, "-f", str(n), "-l", str(n)) for n in range(2, len(pages) + 1)]
    continued = [page for page in later if "continued" in page]
    assert continued, "the columns that did not fit should continue on later pages"
    # Every note column is somewhere, and continued pages repeat who each row is.
    everything = pdftotext(target)
    for index in range(8):
        assert f"note {index} for learner 39" in " ".join(everything.split())
    for page in continued:
        assert "student.with.a.long.username" in page and "userid" in page


def test_the_demo_keeps_every_username_email_and_date_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    from manireports.demo import build_demo

    build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 's.sqlite'}",
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    made = invoke("run-report", "course_completion", "-f", "csv", env=env)
    rows = list(csv.DictReader(io.StringIO(made.stdout.decode())))
    target = tmp_path / "completion.pdf"
    done = invoke("run-report", "course_completion", "-o", str(target), env=env)
    assert done.returncode == 0, done.stderr
    text = pdftotext(target)
    assert "…" not in text
    for row in rows:
        assert row["username"] in text and row["email"] in text
        assert row["enrolled"] in text
        if row["timecompleted"]:
            assert row["timecompleted"] in text


def test_latin_greek_cyrillic_need_no_system_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setattr(font_search, "FONT_DIRECTORIES", (empty,))
    assert find_fonts().regular.path == BUNDLED / "DejaVuSans.ttf"
    warned: list[str] = []
    names = [("Zoë Ångström",), ("Ольга Иванова",), ("Αλέξανδρος",), ("田中 太郎",), ("अमित",)]
    target = write(tmp_path / "names.pdf", names, [Column("fullname")], warn=warned.append)
    text = pdftotext(target)
    for name in ("Zoë Ångström", "Ольга Иванова", "Αλέξανδρος"):
        assert name in text
    assert len(warned) == 1
    assert "Chinese/Japanese (Han)" in warned[0] and "Devanagari" in warned[0]
    assert "fonts-noto-core and fonts-noto-cjk" in warned[0] and "[export] pdf_fonts" in warned[0]
    assert "2 values" in warned[0]


def test_fpdf_says_nothing_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setattr(font_search, "FONT_DIRECTORIES", (empty,))
    logging.lastResort = logging.StreamHandler()  # what prints fpdf2's warnings by default
    write(tmp_path / "cjk.pdf", [("田中 太郎",)], [Column("fullname")])
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_operator_fonts_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cjk = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    if not cjk.exists():
        pytest.skip("fonts-noto-cjk is not installed")
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setattr(font_search, "FONT_DIRECTORIES", (empty,))
    warned: list[str] = []
    target = write(
        tmp_path / "cjk.pdf", [("田中 太郎",)], [Column("fullname")],
        warn=warned.append, pdf_fonts=(str(cjk),),
    )  # fmt: skip
    assert "田中 太郎" in pdftotext(target) and warned == []


def test_arabic_is_shaped_and_hindi_drawn(tmp_path: Path) -> None:
    if not find_fonts().fallbacks:
        pytest.skip("no Noto fonts on this machine")
    warned: list[str] = []
    target = write(
        tmp_path / "rtl.pdf", [("محمد علي",), ("अमित शर्मा",)], [Column("fullname")],
        warn=warned.append,
    )  # fmt: skip
    reader = PdfReader(target)
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("Arabic" in name for name in fonts) and any("Devanagari" in name for name in fonts)
    text = pdftotext(target)
    # Shaped: poppler reads the joined glyphs back as the name in logical order.
    assert "محمد" in text
    assert warned == []


def test_a_certificate_whose_name_cannot_be_drawn_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from manireports.app import App
    from manireports.cloud.certificate import make_certificate
    from manireports.config import load_config
    from manireports.errors import RunError
    from tests.cloud_support import SECRET, upgraded_state
    from tests.moodle_site import MoodleSite

    moodle = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    site = MoodleSite(moodle)
    course = site.course("JP1")
    hanako = site.user("hanako", firstname="花子", lastname="田中")
    olga = site.user("olga", firstname="Ольга", lastname="Петрова")
    for user in (hanako, olga):
        site.enrol(user, course)
        site.complete(user, course, 1_700_000_000)
    site.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": moodle,
        "MANIREPORTS_STATE_URL": upgraded_state(f"sqlite:///{tmp_path / 'state.sqlite'}"),
        "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET,
    }
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setattr(font_search, "FONT_DIRECTORIES", (empty,))
    app = App(load_config(environ=env))
    target = tmp_path / "hanako.pdf"
    with pytest.raises(RunError, match=r"recipient's name cannot be drawn.*Han.*fonts-noto-cjk"):
        make_certificate(app, "hanako", course, "default", target)
    assert not target.exists()
    # Cyrillic needs no system font: DejaVu Sans comes with matplotlib.
    made = make_certificate(app, "olga", course, "default", tmp_path / "olga.pdf")
    assert "Ольга Петрова" in pdftotext(made.path)
    app.moodle.dispose()
    # A font file the operator names but that is not there: exit 2, named.
    refused = invoke(
        "cloud", "certificate", "--user", "olga", "--course", str(course),
        env={**env, "MANIREPORTS_EXPORT_PDF_FONTS": "/nowhere/font.ttf"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "[export] pdf_fonts names /nowhere/font.ttf" in refused.stderr.decode()
