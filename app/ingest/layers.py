"""Read an agency layer file into ``LayerData``: format, encoding, CRS, validation and repair.

Accepted: zipped shapefile (or a ``.shp`` beside its sidecars), GeoPackage (``sublayer`` picks a
table), GeoJSON, KML/KMZ, FlatGeobuf and FileGDB (a ``.gdb`` folder or a zip holding one).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely

from app.domain.catalog import Catalog
from app.domain.crs import STORAGE_EPSG, in_china
from app.domain.geometry import LINEAL, POLYGONAL, PUNTAL, coordinate_box, is_valid, to_storage
from app.domain.models import ImportReport, LayerData
from app.ingest.vector import read_vector, refuse, resolve_crs, sha256_path

Progress = Callable[[str], None]

_KIND_TYPES = {"polygon": POLYGONAL, "line": LINEAL, "point": PUNTAL}
_KIND_DIM = {"polygon": 2, "line": 1, "point": 0}


def read_layer_file(
    path: Path,
    kind: str,
    catalog: Catalog,
    *,
    sublayer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    max_bytes: int = 2 << 30,
    progress: Progress | None = None,
) -> LayerData:
    """Read, validate and repair one layer file; refuse with an ``InputRefused`` when it cannot be trusted."""
    note = progress or (lambda _stage: None)
    spec = catalog.kind(kind)
    path = Path(path)
    report = ImportReport(source_file=path.name)
    note("hash")
    report.file_sha256 = sha256_path(path)
    note("read")
    with tempfile.TemporaryDirectory(prefix="ecoredline-import-") as tmp:
        raw = read_vector(path, Path(tmp), sublayer=sublayer, encoding=encoding, max_bytes=max_bytes)
    report.sublayer, report.driver = raw.sublayer, raw.driver
    report.encoding, report.encoding_source = raw.encoding, raw.encoding_source
    geoms, records = raw.geoms, raw.records
    report.features_read = len(geoms)
    if len(geoms) == 0:
        raise refuse("E_LAYER_EMPTY", "图层中没有要素", "The layer holds no features")
    note("crs")
    res = resolve_crs(raw.file_crs, crs, geoms, path.name,
                      file_source="prj" if raw.driver == "ESRI Shapefile" else "header")
    report.crs_detected, report.crs_source = res.detected, res.source
    report.warnings.extend(res.notes)
    if res.swapped:
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    note("validate")
    keep, geoms = _validate(geoms, spec.geometry, report)
    if not keep.any():
        raise refuse("E_LAYER_EMPTY", "修复后图层中没有有效要素", "No valid feature is left after repair",
                     dropped=report.dropped[:20])
    geoms = geoms[keep]
    records = [r for r, k in zip(records, keep) if k]
    if res.src != STORAGE_EPSG:
        note("transform")
        try:
            geoms = to_storage(geoms, res.src)
        except Exception as exc:  # PROJ refuses the transformation
            raise refuse("E_CRS_TRANSFORM", "无法把坐标转换为 CGCS2000", "Cannot transform the coordinates to CGCS2000",
                         reason=str(exc)) from None
    xy = shapely.get_coordinates(geoms)
    x0, y0, x1, y1 = coordinate_box(xy[:, 0], xy[:, 1])  # every vertex, holes too; NaN where PROJ failed
    if not (np.isfinite([x0, y0, x1, y1]).all() and in_china(x0, y0) and in_china(x1, y1)):
        raise refuse("E_OUTSIDE_CHINA", "坐标转换后不在中国范围内，请检查坐标系",
                     "After transformation the layer lies outside China: check the CRS",
                     bounds=[v if math.isfinite(v) else None for v in (x0, y0, x1, y1)], crs=report.crs_detected)
    note("attributes")
    unread: dict[tuple[str, str], int] = {}
    attrs = [catalog.map_attributes(kind, r, unread) for r in records]
    report.warnings.extend(catalog.kind(kind).undeclared(attrs, unread))
    report.field_mapping = _field_mapping(raw.fields, catalog, kind)
    report.features_kept = len(geoms)
    report.vertex_count = int(shapely.get_num_coordinates(geoms).sum())
    return LayerData(kind=kind, geometries=geoms, attributes=attrs, report=report)


def _field_mapping(fields: list[str], catalog: Catalog, kind: str) -> dict[str, str]:
    spec = catalog.kind(kind)
    out = {}
    for f in fields:
        u = f.upper()
        target = f if f in spec.attributes else spec.fields.get(u) or catalog.common_fields.get(u)
        if target and target in spec.attributes:
            out[f] = target
    return out


def _validate(geoms: np.ndarray, want: str, report: ImportReport) -> tuple[np.ndarray, np.ndarray]:
    """Drop what cannot be used, repair what can, and say which feature got what."""
    geoms = np.asarray(geoms, dtype=object)
    keep = np.ones(len(geoms), dtype=bool)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        report.dropped.append({"feature": int(i), "reason_zh": "几何为空", "reason_en": "empty geometry"})
    keep &= ~missing
    present = np.flatnonzero(keep)
    if len(present) and shapely.has_z(geoms[present]).any():
        geoms[present] = shapely.force_2d(geoms[present])
        report.warnings.append("已舍弃 Z/M 坐标 (Z and M dropped)")
    coords, owner = shapely.get_coordinates(geoms[present], return_index=True)
    for i in present[np.unique(owner[~np.isfinite(coords).all(axis=1)])]:
        report.dropped.append({"feature": int(i), "reason_zh": "坐标含非数值", "reason_en": "non-finite coordinates"})
        keep[i] = False
    present = np.flatnonzero(keep)
    invalid = present[~is_valid(geoms[present])]
    if len(invalid):
        reasons = shapely.is_valid_reason(geoms[invalid])
        geoms[invalid] = shapely.make_valid(geoms[invalid])
        for i, why in zip(invalid, reasons):
            report.repaired.append({"feature": int(i), "reason": str(why), "action": "make_valid"})
    if want != "any":
        dim = _KIND_DIM[want]
        for i in np.flatnonzero(keep):
            g = geoms[i]
            if g.geom_type in _KIND_TYPES[want]:
                continue
            parts = [p for p in shapely.get_parts(g) if shapely.get_dimensions(p) == dim]
            if g.geom_type == "GeometryCollection" and parts:
                geoms[i] = shapely.union_all(parts) if dim == 2 else shapely.multilinestrings(parts) if dim == 1 \
                    else shapely.multipoints(parts)
                report.repaired.append({"feature": int(i), "reason": "mixed geometry collection",
                                        "action": f"kept {want} parts"})
                continue
            keep[i] = False
            report.dropped.append({"feature": int(i), "reason_zh": f"几何类型 {g.geom_type} 与图层类型不符",
                                   "reason_en": f"geometry type {g.geom_type} does not fit a {want} layer"})
    return keep, geoms
