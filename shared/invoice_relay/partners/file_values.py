"""What a file target renders for the export (`capabilities.FILE_TARGET`). Named through `capabilities`,
which loads this module the first time it is used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedFile:
    """An import file rendered for a file target; `failures` maps document numbers left out to reasons."""

    file_name: str
    content: bytes
    content_type: str
    template: str
    rendered: tuple[str, ...]
    failures: Mapping[str, str]
