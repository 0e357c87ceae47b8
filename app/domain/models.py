"""Plain data passed between ingest, the stores and the API."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely

from app.domain.errors import InputRefused

LAYER_ID_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")


def check_layer_id(layer_id: str) -> str:
    if not LAYER_ID_RE.match(layer_id or ""):
        raise InputRefused(
            "E_LAYER_ID",
            f"图层标识“{layer_id}”不合法：须以小写字母开头，只含小写字母、数字、下划线和连字符，最长 63 字符",
            f"Invalid layer id '{layer_id}': start with a lowercase letter; use a-z, 0-9, '_' or '-'; at most 63 characters",
            detail={"layer": layer_id},
        )
    return layer_id


def version_id(layer_id: str, seq: int) -> str:
    """Version ids are readable and stable: ``eco_redline.v3``."""
    return f"{layer_id}.v{seq}"


def feature_key(version: str, fid: int) -> str:
    """Global feature id: ``eco_redline.v3.17``."""
    return f"{version}.{fid}"


@dataclass
class Provenance:
    """Where a layer version comes from: what a reviewer needs to trust a finding."""

    label: str | None = None  # the agency's own version name, e.g. "2023年调整版"
    source_document: str | None = None
    doc_number: str | None = None  # 文号
    authority: str | None = None  # issuing authority
    effective_date: date | None = None
    imported_by: str | None = None
    notes: str | None = None


@dataclass
class ImportReport:
    """What an import understood and changed, kept with the version."""

    source_file: str = ""
    file_sha256: str = ""
    driver: str = ""
    sublayer: str | None = None
    encoding: str | None = None
    encoding_source: str | None = None  # cpg | ldid | detected | user | n/a
    crs_detected: str | None = None
    crs_source: str | None = None  # prj | header | prefix | user | guess
    features_read: int = 0
    features_kept: int = 0
    repaired: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    field_mapping: dict[str, str] = field(default_factory=dict)
    vertex_count: int = 0
    # whether any two features share interior points (None for points and lines), and the longest edge
    # (found at publish; both None when not known: a GEOS error, a version published before them). The overlay dissolves a
    # layer whose features never meet and whose edges are short by adding areas (geometry.apart).
    features_overlap: bool | None = None
    longest_edge_m: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LayerData:
    """A layer ready to publish: geometries in EPSG:4490 and their mapped attributes."""

    kind: str
    geometries: np.ndarray  # shapely geometries, EPSG:4490, valid, 2D
    attributes: list[dict[str, Any]]
    report: ImportReport

    def __post_init__(self) -> None:
        if len(self.geometries) != len(self.attributes):
            raise ValueError("geometries and attributes differ in length")


@dataclass
class LayerVersion:
    id: str
    layer_id: str
    seq: int
    kind: str
    provenance: Provenance
    file_sha256: str
    imported_at: datetime
    feature_count: int
    vertex_count: int
    bbox: tuple[float, float, float, float] | None
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["imported_at"] = self.imported_at.isoformat()
        eff = self.provenance.effective_date
        d["provenance"]["effective_date"] = eff.isoformat() if eff else None
        d["bbox"] = list(self.bbox) if self.bbox else None
        return d


@dataclass
class LayerInfo:
    id: str
    kind: str
    name_zh: str
    name_en: str
    current: LayerVersion | None
    version_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "version_count": self.version_count,
            "current_version": self.current.to_dict() if self.current else None,
        }


@dataclass
class Feature:
    id: str  # feature_key
    layer_id: str
    version_id: str
    fid: int
    attributes: dict[str, Any]
    geometry: Any  # shapely geometry, EPSG:4490; None when the page was asked without geometry


@dataclass
class FeaturePage:
    features: list[Feature]
    total: int
    offset: int
    limit: int


@dataclass
class Piece:
    """A subdivided part of a feature near a probe geometry, or the whole of a small one: the overlay's candidates."""

    layer_id: str
    kind: str
    version_id: str
    fid: int
    attributes: dict[str, Any]
    geometry: Any  # shapely geometry (one piece), EPSG:4490
    feature_area_m2: float = 0.0  # the whole feature's ellipsoidal area
    geometry_gk: Any = None  # the piece in the probe's GK plane, when the store holds it projected
    apart: bool = False  # no two features of its version share interior points (known at publish)

    @property
    def feature_id(self) -> str:
        return feature_key(self.version_id, self.fid)

    @property
    def polygonal(self) -> bool:
        """An area, not a point or line (a layer of kind ``any`` holds both)."""
        return bool(shapely.get_dimensions(self.geometry) == 2)
