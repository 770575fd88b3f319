"""Course completion certificates as PDF, made locally (`cloud certificate`).

The layout is a TOML file the operator can copy and change (the built-in one is
`certificates/default.toml`): a page size and orientation, an optional frame, and lines of text,
each a Jinja2 template placed at a height on the page. Names come in every script, so the text
is set with the PDF exporter's Unicode fonts and their fallbacks (CJK, Arabic, ...).

The verification code is derived, not stored: the first 60 bits of HMAC-SHA256 over user,
course and completion time, keyed with `[cloud] callback_secret`, in base32 with the easily
misread I, L, O and U replaced, as XXXX-XXXX-XXXX. The same completion always gets the same
code, a changed completion a new one, and without the key nobody can make a valid code. Each
certificate made is audited with its code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jinja2.sandbox

from manireports.app import App
from manireports.documents import read_table
from manireports.errors import InputError, RunError
from manireports.export.atomic import atomic_output
from manireports.export.fonts import INSTALL_HINT, FontSet, find_fonts, missing_scripts
from manireports.reports.run import OPERATOR
from manireports.state.audit import record_audit

BUILTIN_LAYOUTS = Path(__file__).resolve().parent / "certificates"
DEFAULT_LAYOUT = "default"
MAIN = "CertMain"
_ALIGN = {"left": "L", "center": "C", "right": "R"}


@dataclass(frozen=True)
class Certificate:
    path: Path
    verification_code: str


class _Page(NamedTuple):
    """[page] of a layout file."""

    format: Literal["A4", "A5", "Letter", "Legal"] = "A4"
    orientation: Literal["landscape", "portrait"] = "landscape"
    border_mm: float = 0.0


class _Text(NamedTuple):
    """One [[text]] of a layout file: a Jinja2 template placed `y` mm from the top."""

    text: str
    y: float
    size: float = 14.0
    bold: bool = False
    align: Literal["left", "center", "right"] = "center"
    x: float | None = None
    width: float | None = None


class _LayoutFile(NamedTuple):
    page: _Page = _Page()
    text: tuple[_Text, ...] = ()


@dataclass(frozen=True)
class _Layout:
    source: str
    page: _Page
    lines: tuple[_Text, ...]


def load_layout(name_or_path: str) -> _Layout:
    """A built-in layout by name, or the operator's TOML file by path."""
    path = Path(name_or_path)
    if not name_or_path.endswith(".toml"):
        path = BUILTIN_LAYOUTS / f"{name_or_path}.toml"
        if not path.is_file():
            raise InputError(
                f"There is no built-in certificate layout {name_or_path!r}; give a .toml file "
                f"(copy {BUILTIN_LAYOUTS / 'default.toml'})."
            )
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"The certificate layout {source} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"The certificate layout {source} is not valid TOML: {exc}.") from None
    layout = read_table(_LayoutFile, data, f"the certificate layout {source}")
    if not layout.text:
        raise InputError(f"The certificate layout {source} has no [[text]] entries.")
    return _Layout(source, layout.page, layout.text)


def verification_code(secret: str, userid: int, courseid: int, timecompleted: int) -> str:
    message = f"{userid}:{courseid}:{timecompleted}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    # Base32 without the letters easily misread as 1, 1, 0 and V.
    text = base64.b32encode(digest).decode().translate(str.maketrans("ILOU", "WXYZ"))
    return "-".join(text[index : index + 4] for index in (0, 4, 8))


def _completion(app: App, userid: int, courseid: int) -> dict[str, Any]:
    moodle = app.moodle
    rows = moodle.fetch_all(
        f"SELECT u.firstname, u.lastname, c.fullname, c.shortname, cc.timecompleted "
        f"FROM {moodle.table('user')} u "
        f"JOIN {moodle.table('course')} c ON c.id = :courseid "
        f"LEFT JOIN {moodle.table('course_completions')} cc "
        "ON cc.userid = u.id AND cc.course = c.id "
        "WHERE u.id = :userid AND u.deleted = 0",
        {"userid": userid, "courseid": courseid},
    )
    if not rows:
        raise InputError(f"There is no user {userid} or no course {courseid} in Moodle.")
    first, last, course_name, shortname, completed = rows[0]
    if not completed:
        raise InputError(
            f"User {userid} has not completed course {courseid}; certificates are for completions."
        )
    return {
        "firstname": first,
        "lastname": last,
        "fullname": f"{first} {last}",
        "course_fullname": course_name,
        "course_shortname": shortname,
        "timecompleted": int(completed),
    }


def _find_userid(app: App, who: str) -> int:
    column = "id" if who.isdigit() else "username"
    rows = app.moodle.fetch_all(
        f"SELECT id FROM {app.moodle.table('user')} WHERE {column} = :who AND deleted = 0",
        {"who": int(who) if who.isdigit() else who},
    )
    if not rows:
        raise InputError(f"There is no Moodle user {who!r}.")
    return int(rows[0][0])


def _cmap(pdf: Any, family: str) -> dict[int, Any]:
    from fpdf.fonts import TTFFont

    font = pdf.fonts[family.lower()]
    assert isinstance(font, TTFFont)  # add_font() with a file always makes one
    return dict(font.cmap)


def _render_pdf(layout: _Layout, texts: list[str], name: str, fonts: FontSet) -> bytes:
    from fpdf import FPDF

    page = layout.page
    pdf = FPDF(orientation="L" if page.orientation == "landscape" else "P", format=page.format)
    pdf.set_auto_page_break(False)
    pdf.set_creator("manireports")
    pdf.add_font(MAIN, "", str(fonts.regular.path), collection_font_number=fonts.regular.index)
    pdf.add_font(MAIN, "B", str(fonts.bold.path), collection_font_number=fonts.bold.index)
    covered = _cmap(pdf, MAIN)
    missing = {ord(char) for text in texts for char in text if ord(char) not in covered}
    families = []
    for fallback in fonts.fallbacks:
        if fallback.wanted_for(missing):
            pdf.add_font(
                fallback.family, "", str(fallback.font.path),
                collection_font_number=fallback.font.index,
            )  # fmt: skip
            families.append(fallback.family)
            missing -= set(_cmap(pdf, fallback.family))
    unreadable = {point for point in map(ord, name) if point in missing}
    if unreadable:
        # A certificate without its recipient's name is worse than none.
        raise RunError(
            f"The recipient's name cannot be drawn: no font on this machine has its "
            f"{missing_scripts(unreadable)} letters. {INSTALL_HINT[0].upper()}{INSTALL_HINT[1:]},"
            " or name font files in [export] pdf_fonts."
        )
    if families:
        pdf.set_fallback_fonts(families, exact_match=False)
    pdf.set_text_shaping(True)
    pdf.add_page()
    if page.border_mm > 0:
        edge = page.border_mm
        pdf.set_line_width(0.8)
        pdf.rect(edge, edge, pdf.w - 2 * edge, pdf.h - 2 * edge)
        pdf.set_line_width(0.3)
        pdf.rect(edge + 2, edge + 2, pdf.w - 2 * edge - 4, pdf.h - 2 * edge - 4)
    for line, text in zip(layout.lines, texts, strict=True):
        pdf.set_font(MAIN, "B" if line.bold else "", line.size)
        x = line.x if line.x is not None else page.border_mm + 5
        width = line.width if line.width is not None else pdf.w - 2 * x
        pdf.set_xy(x, line.y)
        pdf.cell(width, line.size * 0.5, text, align=_ALIGN[line.align])
    return bytes(pdf.output())


def make_certificate(
    app: App, who: str, courseid: int, layout_name: str, output: Path | None
) -> Certificate:
    """Write the certificate of a completion and audit it with its verification code."""
    layout = load_layout(layout_name)
    secret = app.settings.cloud.callback_secret
    if not secret:
        raise InputError(
            "Certificates are signed with [cloud] callback_secret; set it (or "
            "callback_secret_file) so their verification codes cannot be forged."
        )
    userid = _find_userid(app, who)
    data = _completion(app, userid, courseid)
    code = verification_code(secret, userid, courseid, data["timecompleted"])
    when = datetime.fromtimestamp(data["timecompleted"], app.timezone)
    values = {**data, "completion_date": when.strftime("%Y-%m-%d"), "verification_code": code}
    environment = jinja2.sandbox.SandboxedEnvironment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )
    try:
        texts = [environment.from_string(line.text).render(values) for line in layout.lines]
    except jinja2.TemplateError as exc:
        raise InputError(f"The certificate layout {layout.source}: {exc}.") from None
    fonts = find_fonts(operator=app.settings.export.pdf_fonts)
    from manireports.export.pdf import fpdf_quiet

    with fpdf_quiet():
        content = _render_pdf(layout, texts, values["fullname"], fonts)
    path = output or Path(f"certificate-{courseid}-{userid}.pdf")
    with atomic_output(path) as stream:
        stream.write(content)
    record_audit(
        app.state,
        userid=OPERATOR,
        action="certificate_issued",
        objecttype="certificate",
        objectid=userid,
        details={"userid": userid, "courseid": courseid, "code": code, "layout": layout.source},
    )
    return Certificate(path, code)
