"""Find the Unicode fonts a PDF needs.

A Moodle site's users are named in every script, and PDF's built-in fonts cover only Latin-1, so
the PDF writer embeds TrueType/OpenType fonts: a main face for Latin, Greek and Cyrillic and
fallbacks for what it lacks. The main face is Noto Sans when the machine has it, else DejaVu Sans,
which ships inside matplotlib (a dependency), so those scripts never depend on system fonts.
Fallbacks are the operator's own files (`[export] pdf_fonts`) first, then Noto Sans CJK, Noto
Sans Arabic and the Indic Noto faces from the usual font directories (Debian's fonts-noto-core and
fonts-noto-cjk). Characters no font has are named by script in one warning (`missing_scripts`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from manireports.errors import InputError

FONT_DIRECTORIES: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
)

INSTALL_HINT = "install the Debian packages fonts-noto-core and fonts-noto-cjk"

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x33FF),  # CJK punctuation, kana, Hangul compatibility, enclosed
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended
    (0xAC00, 0xD7FF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x3134F),  # CJK extensions B to G
)
_ARABIC_RANGES = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x0870, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)


@dataclass(frozen=True)
class FontFile:
    """One face in a font file; `index` picks the face inside a .ttc collection."""

    path: Path
    index: int = 0


@dataclass(frozen=True)
class Fallback:
    """A fallback face and the code points it is loaded for (None: anything still missing)."""

    family: str
    font: FontFile
    ranges: tuple[tuple[int, int], ...] | None

    def wanted_for(self, code_points: set[int]) -> bool:
        if self.ranges is None:
            return bool(code_points)
        return any(low <= point <= high for point in code_points for low, high in self.ranges)


@dataclass(frozen=True)
class FontSet:
    regular: FontFile
    bold: FontFile
    fallbacks: tuple[Fallback, ...]


# Preferred file names, best first. Index 0 of the Noto CJK collections is the Japanese face,
# which also holds the simplified and traditional Chinese and the Korean glyphs.
_MAIN = (("NotoSans-Regular.ttf", "NotoSans-Bold.ttf"), ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
_FALLBACKS: tuple[tuple[str, Sequence[str], tuple[tuple[int, int], ...] | None], ...] = (
    (
        "NotoSansCJK",
        (
            "NotoSansCJK-Regular.ttc",
            "NotoSansCJKsc-Regular.otf",
            "NotoSansCJKjp-Regular.otf",
            "DroidSansFallbackFull.ttf",
        ),
        _CJK_RANGES,
    ),
    (
        "NotoSansArabic",
        ("NotoSansArabic-Regular.ttf", "NotoNaskhArabic-Regular.ttf"),
        _ARABIC_RANGES,
    ),
    ("NotoSansDevanagari", ("NotoSansDevanagari-Regular.ttf",), ((0x0900, 0x097F),)),
    ("NotoSansBengali", ("NotoSansBengali-Regular.ttf",), ((0x0980, 0x09FF),)),
    ("NotoSansTamil", ("NotoSansTamil-Regular.ttf",), ((0x0B80, 0x0BFF),)),
    ("NotoSansThai", ("NotoSansThai-Regular.ttf",), ((0x0E00, 0x0E7F),)),
    ("NotoSansHebrew", ("NotoSansHebrew-Regular.ttf",), ((0x0590, 0x05FF),)),
    ("DejaVuSans", ("DejaVuSans.ttf",), None),
)


def _index(directories: Sequence[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in directories:
        for root, _, files in os.walk(directory):
            for name in files:
                found.setdefault(name, Path(root) / name)
    return found


def _bundled_directory() -> Path:
    # Found without importing matplotlib, which would cost half a second and numpy.
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.submodule_search_locations, "matplotlib is a dependency"
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


BUNDLED = _bundled_directory()
"""DejaVu Sans as matplotlib ships it: Latin, Greek and Cyrillic whatever the machine has."""


def _operator_fonts(files: Sequence[str]) -> list[Fallback]:
    fallbacks = []
    for number, name in enumerate(files, start=1):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InputError(
                f"[export] pdf_fonts names {name}, which is not a font file on this machine."
            )
        fallbacks.append(Fallback(f"OperatorFont{number}", FontFile(path), None))
    return fallbacks


def find_fonts(directories: Sequence[Path] | None = None, operator: Sequence[str] = ()) -> FontSet:
    """The fonts to embed: the main face, then the operator's files, then the system's."""
    return _find_fonts(tuple(directories or FONT_DIRECTORIES), tuple(operator))


@functools.cache
def _find_fonts(directories: tuple[Path, ...], operator: tuple[str, ...]) -> FontSet:
    files = _index(directories)
    bundled = (FontFile(BUNDLED / "DejaVuSans.ttf"), FontFile(BUNDLED / "DejaVuSans-Bold.ttf"))
    regular, bold = bundled
    for regular_name, bold_name in _MAIN:
        if regular_name in files:
            regular = FontFile(files[regular_name])
            bold = FontFile(files[bold_name]) if bold_name in files else regular
            break
    fallbacks = _operator_fonts(operator)
    for family, names, ranges in _FALLBACKS:
        name = next((name for name in names if name in files), None)
        if name is not None and files[name] != regular.path:
            fallbacks.append(Fallback(family, FontFile(files[name]), ranges))
    if regular != bundled[0] and all(f.family != "DejaVuSans" for f in fallbacks):
        fallbacks.append(Fallback("DejaVuSans", bundled[0], None))
    return FontSet(regular, bold, tuple(fallbacks))


def missing_scripts(code_points: set[int]) -> str:
    """The scripts of characters no font could draw, as people name them ('Devanagari, Han')."""
    scripts: dict[str, None] = {}
    for point in sorted(code_points):
        name = unicodedata.name(chr(point), "")
        if not name:
            continue
        word = name.split()[0]
        script = _SCRIPT_NAMES.get(word, word.title())
        scripts.setdefault(script, None)
    return ", ".join(scripts) or "unnamed characters"


_SCRIPT_NAMES = {
    "CJK": "Chinese/Japanese (Han)",
    "HIRAGANA": "Japanese (Hiragana)",
    "KATAKANA": "Japanese (Katakana)",
    "HANGUL": "Korean (Hangul)",
}


def missing_glyphs_message(code_points: set[int], values: int) -> str:
    """One sentence for the run: what could not be drawn and what to install."""
    plural = "s" if values != 1 else ""
    return (
        f"the PDF has {values} value{plural} in {missing_scripts(code_points)} that no font "
        f"on this machine can draw; they show as blanks. {INSTALL_HINT[0].upper()}"
        f"{INSTALL_HINT[1:]}, or name font files in [export] pdf_fonts."
    )
