"""Find the Unicode fonts a PDF needs on this machine.

A Moodle site's users are named in every script, and PDF's built-in fonts cover only Latin-1, so
the PDF writer embeds TrueType/OpenType fonts from the system: a main face (Noto Sans, else DejaVu
Sans) for Latin, Greek and Cyrillic, and fallbacks for what it lacks (Noto Sans CJK for Chinese,
Japanese and Korean, Noto Sans Arabic, DejaVu Sans for the rest). They are found by file name
under the usual font directories, so no font configuration is needed on a Debian server with
fonts-noto-core and fonts-noto-cjk installed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from manireports.errors import RunError

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
    ("DejaVuSans", ("DejaVuSans.ttf",), None),
)


def _index(directories: Sequence[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in directories:
        for root, _, files in os.walk(directory):
            for name in files:
                found.setdefault(name, Path(root) / name)
    return found


@functools.cache
def find_fonts(directories: tuple[Path, ...] = FONT_DIRECTORIES) -> FontSet:
    """The fonts to embed; RunError naming the packages to install when there is none."""
    files = _index(directories)
    for regular_name, bold_name in _MAIN:
        if regular_name in files:
            regular = FontFile(files[regular_name])
            bold = FontFile(files[bold_name]) if bold_name in files else regular
            break
    else:
        searched = ", ".join(str(directory) for directory in directories)
        raise RunError(
            f"No Unicode font for PDF output was found under {searched}; {INSTALL_HINT} "
            "(or fonts-dejavu-core), or choose another format."
        )
    fallbacks = []
    for family, names, ranges in _FALLBACKS:
        name = next((name for name in names if name in files), None)
        if name is not None and files[name] != regular.path:
            fallbacks.append(Fallback(family, FontFile(files[name]), ranges))
    return FontSet(regular, bold, tuple(fallbacks))
