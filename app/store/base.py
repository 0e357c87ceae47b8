"""The ``LayerStore`` protocol: what the rest of the system may ask of a store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from app.domain.errors import NotFound
from app.domain.models import Feature, FeaturePage, LayerData, LayerInfo, LayerVersion, Piece, Provenance

BBox = tuple[float, float, float, float]
Progress = Callable[[str, int, int], None]

MAX_PAGE = 10_000


class LayerStore(Protocol):
    kind: str  # "postgis" | "embedded"

    def publish(
        self, layer_id: str, data: LayerData, provenance: Provenance, *, progress: Progress | None = None
    ) -> LayerVersion:
        """Store a new version and make it current, atomically; on any failure nothing is left."""

    def list_layers(self) -> list[LayerInfo]: ...

    def current_versions(self) -> dict[str, tuple[str, str]]:
        """``{layer: (kind, current version id)}`` in one cheap query: the screening hot path."""

    def get_layer(self, layer_id: str) -> LayerInfo: ...

    def list_versions(self, layer_id: str) -> list[LayerVersion]: ...

    def get_version(self, version_id: str) -> LayerVersion: ...

    def features(
        self,
        layer_id: str,
        *,
        version_id: str | None = None,
        bbox: BBox | None = None,
        limit: int = 100,
        offset: int = 0,
        geometry: bool = True,
    ) -> FeaturePage:
        """Features of a version (default: current) in fid order, optionally intersecting a lon/lat bbox;
        ``geometry=False``: attributes only (``Feature.geometry`` None), without reading a geometry."""

    def feature(self, version_id: str, fid: int) -> Feature: ...

    def candidate_pieces(
        self,
        geometry: BaseGeometry,
        *,
        layers: Sequence[str] | None = None,
        distance_m: float = 0.0,
        versions: dict[str, str] | None = None,
        resolved: dict[str, tuple[str, str]] | None = None,
        window_only: bool = False,
        gk_epsg: int | None = None,
    ) -> list[Piece]:
        """Subdivided pieces that intersect ``geometry`` or lie within ``distance_m`` of it.

        Distances are measured in the 3° Gauss–Krüger plane of the geometry's centroid.
        ``window_only`` skips that test and returns every piece in the lon/lat window that covers the
        distance (a superset), for a caller that measures in the GK plane itself (the overlay does:
        projecting the pieces once instead of twice).
        ``versions`` pins layers to recorded versions (re-runs); other layers use their current one.
        ``resolved`` (``{layer: (kind, version id)}``, as ``current_versions`` gives) skips the resolution.
        ``gk_epsg``: pieces held in memory come with ``geometry_gk``, their projection into that 3° GK
        plane, where the store keeps one (the others are projected by the caller).
        """

    def tile(self, version_id: str, z: int, x: int, y: int, layer_name: str) -> bytes:
        """A Mapbox Vector Tile (Web Mercator z/x/y) of one version; empty bytes when nothing is there."""

    def save_screening(self, record: dict[str, Any], input_bytes: bytes | None) -> None:
        """Keep a screening record, immutable; its id must be new."""

    def get_screening(self, screening_id: str) -> dict[str, Any]: ...

    def get_screening_input(self, screening_id: str) -> bytes | None: ...

    def close(self) -> None: ...


def layer_not_found(layer_id: str) -> NotFound:
    return NotFound("E_LAYER_NOT_FOUND", f"没有图层“{layer_id}”", f"No layer '{layer_id}'", detail={"layer": layer_id})


def version_not_found(version_id: str) -> NotFound:
    return NotFound("E_VERSION_NOT_FOUND", f"没有图层版本“{version_id}”", f"No layer version '{version_id}'",
                    detail={"version": version_id})


def feature_not_found(version_id: str, fid: int) -> NotFound:
    return NotFound("E_FEATURE_NOT_FOUND", f"没有要素 {version_id}.{fid}", f"No feature {version_id}.{fid}",
                    detail={"version": version_id, "fid": fid})


MAX_OFFSET = 2**31 - 1  # beyond any layer's features; SQL takes a bigint, SQLite an int64, no more


def clamp_page(limit: int, offset: int) -> tuple[int, int]:
    """Clamp, don't refuse (OGC API Features Req 22C)."""
    return max(1, min(int(limit), MAX_PAGE)), max(0, min(int(offset), MAX_OFFSET))


def screening_not_found(screening_id: str) -> NotFound:
    return NotFound("E_SCREENING_NOT_FOUND", f"没有筛查记录“{screening_id}”", f"No screening record '{screening_id}'",
                    detail={"id": screening_id})
