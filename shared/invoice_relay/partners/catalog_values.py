"""What a catalog source lists for the catalog sync (`capabilities.CATALOG_SOURCE`). Named through
`capabilities`, which loads this module the first time it is used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: a function that maps no document never builds the canonical models
    from ..models import Product


@dataclass(frozen=True)
class CatalogChange:
    """One product of a catalog listing (`product` None when it cannot be mapped: `problem` says why)."""

    key: str
    updated_at: dt.datetime | None
    product: Product | None = None
    problem: str | None = None
