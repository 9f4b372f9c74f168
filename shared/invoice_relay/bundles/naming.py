"""Zip entry names that are safe to extract anywhere, whatever the customer named the file.

A drop-zone key is customer input: `../../etc/passwd.pdf`, `C:\\x\\y.pdf` or a 500-character name must
not become a path outside the extraction folder, a hidden file, a Windows device name or an entry that
overwrites another one (zip slip). Every name keeps only its last path component, in a small ASCII
alphabet, and is unique in its archive regardless of case (Windows and macOS folders are
case-insensitive).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 120
FALLBACK_STEM = "document"

_PATH_SEPARATORS = re.compile(r"[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_DOT_RUN = re.compile(r"\.{2,}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}")
# Names Windows refuses to create, whatever the extension.
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{device}{n}" for device in ("COM", "LPT") for n in range(1, 10)]
)


def safe_member_name(name: str, taken: set[str], *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A safe, unique zip entry name for `name` (a file name or an S3 key); adds it to `taken`.

    Only the last path component is kept (`/` and `\\` both separate, a drive letter is dropped);
    unicode is decomposed (NFKD) and reduced to ASCII; characters outside `[A-Za-z0-9._-]` become `_`;
    runs of dots collapse and leading/trailing dots, `_` and `-` are removed (no `..`, no hidden files, no
    option-like names); an empty result becomes `document`. The extension (e.g. `.pdf`) survives
    truncation to `max_length`. A name already in `taken` gets `-2`, `-3`, ... before the extension.

    `taken` holds the *casefolded* names already used in the archive, so `A.pdf` and `a.pdf` collide.
    """
    stem, extension = _sanitised_parts(name)
    candidate = _fit(stem, extension, "", max_length)
    number = 1
    while candidate.casefold() in taken:
        number += 1
        candidate = _fit(stem, extension, f"-{number}", max_length)
    taken.add(candidate.casefold())
    return candidate


def _sanitised_parts(name: str) -> tuple[str, str]:
    base = _PATH_SEPARATORS.split(name)[-1]
    base = _DRIVE.sub("", base)
    ascii_only = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    safe = _DOT_RUN.sub(".", _UNSAFE_RUN.sub("_", ascii_only))
    stem, dot, extension = safe.rpartition(".")
    if dot and _EXTENSION.fullmatch(dot + extension):
        extension = dot + extension
    else:
        stem, extension = safe, ""
    stem = stem.strip("._-") or FALLBACK_STEM
    device, dot, rest = stem.partition(".")
    if device.upper() in _WINDOWS_DEVICES:  # Windows refuses `CON.pdf` and `CON.tar.pdf` alike
        stem = f"{device}_{dot}{rest}"
    return stem, extension


def _fit(stem: str, extension: str, suffix: str, max_length: int) -> str:
    """`stem + suffix + extension`, the stem shortened so the whole stays within `max_length`."""
    room = max_length - len(extension) - len(suffix)
    if room < 1:
        raise ValueError(f"max_length {max_length} leaves no room for a name ending in {suffix}{extension}")
    return stem[:room].rstrip("._-") + suffix + extension if len(stem) > room else stem + suffix + extension
