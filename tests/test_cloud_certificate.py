"""cloud certificate: PDFs read back with pypdf and pdftotext, names in several scripts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from manireports.cloud.certificate import load_layout, verification_code
from manireports.errors import InputError
from manireports.state.audit import list_audit
from manireports.state.store import StateDB
from tests.cli_runner import invoke
from tests.cloud_support import SECRET, upgraded_state
from tests.moodle_site import MoodleSite

# 2023-11-14 22:13:20 UTC is 2023-11-15 07:13:20 in Tokyo: the date is the site's.
COMPLETED = 1_700_000_000
CODE = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")


@pytest.fixture
def site_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    moodle = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    site = MoodleSite(moodle, timezone="Asia/Tokyo")
    course = site.course("JP1", fullname="日本語入門 / Введение")
    ids = {"course": course}
    for username, first, last in (("hanako", "花子", "田中"), ("olga", "Ольга", "Петрова")):
        ids[username] = site.user(username, firstname=first, lastname=last)
        site.enrol(ids[username], course)
        site.complete(ids[username], course, COMPLETED)
    ids["pending"] = site.user("pending")
    site.enrol(ids["pending"], course)
    site.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": moodle,
        "MANIREPORTS_STATE_URL": upgraded_state(f"sqlite:///{tmp_path / 'state.sqlite'}"),
        "MANIREPORTS_CLOUD_CALLBACK_SECRET": SECRET,
    }
    return env, ids


def _text(path: Path) -> str:
    # pypdf puts a NUL before each glyph of the two-byte CJK fallback font; poppler does not.
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    return text.replace("\x00", "")


def test_certificate_shows_names_in_any_script_and_the_code(
    site_env: tuple[dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    env, ids = site_env
    output = tmp_path / "hanako.pdf"
    made = invoke("cloud", "certificate", "--user", "hanako", "--course", str(ids["course"]),
                   "-o", str(output), env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    code = verification_code(SECRET, ids["hanako"], ids["course"], COMPLETED)
    assert CODE.fullmatch(code)
    assert f"verification code {code}" in made.stderr.decode()
    text = _text(output)
    assert "花子 田中" in text
    assert "日本語入門 / Введение" in text
    assert "on 2023-11-15" in text
    assert f"Verification code: {code}" in text
    if shutil.which("pdftotext"):
        poppler = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(output), "-"], capture_output=True, check=True
        )
        assert "花子 田中" in poppler.stdout.decode()

    olga = invoke("cloud", "certificate", "--user", str(ids["olga"]), "--course",
                   str(ids["course"]), env=env, )  # fmt: skip
    assert olga.returncode == 0, olga.stderr
    default_path = tmp_path / f"certificate-{ids['course']}-{ids['olga']}.pdf"
    assert "Ольга Петрова" in _text(default_path)
    other = verification_code(SECRET, ids["olga"], ids["course"], COMPLETED)
    assert other != code and other in _text(default_path)

    with StateDB(env["MANIREPORTS_STATE_URL"]) as state:
        issued = list_audit(state, action="certificate_issued")
    assert sorted(entry["details"]["code"] for entry in issued) == sorted([code, other])


def test_operator_layout_and_refusals(
    site_env: tuple[dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    env, ids = site_env
    layout = tmp_path / "mine.toml"
    layout.write_text(
        '[page]\nformat = "A5"\norientation = "portrait"\n\n'
        '[[text]]\ntext = "Zertifikat für {{ lastname }}, {{ firstname }}"\ny = 30\nsize = 16\n'
        'align = "left"\nx = 12\n\n'
        '[[text]]\ntext = "Code {{ verification_code }} / {{ course_shortname }}"\ny = 60\n',
        encoding="utf-8",
    )
    output = tmp_path / "mine.pdf"
    made = invoke("cloud", "certificate", "--user", "olga", "--course", str(ids["course"]),
                   "--template", str(layout), "-o", str(output), env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    reader = PdfReader(output)
    # A5 portrait is 148 x 210 mm = 419.5 x 595.3 pt.
    assert round(float(reader.pages[0].mediabox.width)) == 420
    text = _text(output)
    assert "Zertifikat für Петрова, Ольга" in text
    code = verification_code(SECRET, ids["olga"], ids["course"], COMPLETED)
    assert f"Code {code} / JP1" in text

    not_done = invoke("cloud", "certificate", "--user", "pending", "--course",
                       str(ids["course"]), env=env)  # fmt: skip
    assert not_done.returncode == 2 and "has not completed" in not_done.stderr.decode()
    layout.write_text('[[text]]\ntext = "{{ nosuchfield }}"\ny = 10\n', encoding="utf-8")
    bad = invoke("cloud", "certificate", "--user", "olga", "--course", str(ids["course"]),
                  "--template", str(layout), env=env)  # fmt: skip
    assert bad.returncode == 2 and "nosuchfield" in bad.stderr.decode()
    unknown = invoke("cloud", "certificate", "--user", "olga", "--course", str(ids["course"]),
                      "--template", "fancy", env=env)  # fmt: skip
    assert unknown.returncode == 2 and "no built-in certificate layout" in unknown.stderr.decode()


def test_the_built_in_layout_is_read_into_its_keys() -> None:
    layout = load_layout("default")
    assert (layout.page.format, layout.page.orientation, layout.page.border_mm) == (
        "A4",
        "landscape",
        10.0,
    )
    assert [line.text for line in layout.lines][2] == "{{ fullname }}"
    assert (layout.lines[2].y, layout.lines[2].size, layout.lines[2].bold) == (85.0, 28.0, True)
    assert (layout.lines[1].bold, layout.lines[1].align, layout.lines[1].x) == (
        False,
        "center",
        None,
    )


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ('[page]\nformat = "A4"\ncolour = "red"\n', "Unknown key 'colour' in [page] of"),
        (
            '[[text]]\ntext = "a"\ny = 1\n'
            '[[text]]\ntext = "b"\ny = 2\nalign = "left"\nitalic = true\n',
            "Unknown key 'italic' in [[text]] 2 of",
        ),
        ('[[texts]]\ntext = "a"\ny = 1\n', "Unknown key 'texts' in"),
        ('[[text]]\ntext = "a"\n', "y is missing from [[text]] 1 of"),
        ('[[text]]\ntext = "a"\ny = "top"\n', "y in [[text]] 1 of"),
        ('[[text]]\ntext = "a"\ny = 1\nbold = "yes"\n', "bold in [[text]] 1 of"),
        ('[page]\nformat = "A3"\n[[text]]\ntext = "a"\ny = 1\n', "must be one of A4, A5,"),
        ('[page]\nformat = "A4"\n', "has no [[text]] entries"),
    ],
)
def test_layout_files_refuse_unknown_keys_and_wrong_values(
    tmp_path: Path, text: str, wanted: str
) -> None:
    layout = tmp_path / "mine.toml"
    layout.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_layout(str(layout))
    assert wanted in str(refused.value) and str(layout) in str(refused.value)
