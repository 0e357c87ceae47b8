"""A project footprint: the boundary a planner uploads, as the service understood it.

The echo (``FootprintEcho``) is what the planner checks before trusting a verdict: how many parts,
which CRS and how it was found, the areas (GK plane of the footprint's own 3° zone, the official
convention, and ellipsoidal), the declared area, and every repair and warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from shapely.geometry.base import BaseGeometry

CRS_SOURCES = ("header", "prefix", "prj", "user", "guess")


@dataclass
class Parcel:
    """One parcel of a multi-parcel boundary file (a 界址点 TXT 地块, a feature of a shapefile …)."""

    index: int
    code: str | None = None  # 地块编号
    name: str | None = None  # 地块名称
    use: str | None = None  # 地块用途
    declared_area_m2: float | None = None
    area_m2_gk: float | None = None
    rings: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class FootprintEcho:
    format: str
    crs_detected: str
    crs_source: str  # one of CRS_SOURCES
    parts: int
    area_m2_gk: float
    gk_epsg: int
    area_m2_ellipsoidal: float
    declared_area_m2: float | None = None
    parcels: list[Parcel] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)  # {code, message_zh, message_en[, line]}
    warnings: list[dict[str, Any]] = field(default_factory=list)
    encoding: str | None = None
    linear: bool = False
    row_width_m: float | None = None
    file_name: str | None = None
    input_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["parcels"] = [{f.name: getattr(p, f.name) for f in fields(p)} for p in self.parcels]
        return d


@dataclass
class Footprint:
    """The boundary in storage CRS (EPSG:4490, lon/lat), valid and 2D, with its echo."""

    geometry: BaseGeometry
    echo: FootprintEcho
    # (the lon/lat geometry, a GK plane, its image there), as the ingest computed it
    _gk: tuple[BaseGeometry, int, BaseGeometry] | None = field(default=None, init=False, compare=False, repr=False)

    def remember_gk(self, epsg: int, image: BaseGeometry) -> None:
        """Keep ``geometry``'s image in the GK plane ``epsg`` (exactly ``to_gk(geometry, epsg)``)."""
        self._gk = (self.geometry, epsg, image)

    def known_gk(self, epsg: int) -> BaseGeometry | None:
        """The image kept by ``remember_gk``, while ``geometry`` is still the shape it was taken of."""
        if self._gk is not None and self._gk[0] is self.geometry and self._gk[1] == epsg:
            return self._gk[2]
        return None
