"""Read an agency layer file into ``LayerData``: format, encoding, CRS, validation and repair.

Accepted: zipped shapefile (or a ``.shp`` beside its sidecars), GeoPackage (``sublayer`` picks a
table), GeoJSON, KML/KMZ, FlatGeobuf and FileGDB (a ``.gdb`` folder or a zip holding one).
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from app.domain.catalog import Catalog
from app.domain.crs import STORAGE_EPSG, in_china, infer_crs
from app.domain.errors import InputRefused
from app.domain.geometry import LINEAL, POLYGONAL, PUNTAL, from_crs, is_valid
from app.domain.models import ImportReport, LayerData
from app.ingest.archive import safe_extract
from app.ingest.encoding import shapefile_encoding

Progress = Callable[[str], None]

DATASET_SUFFIXES = {
    ".shp": "ESRI Shapefile",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".kml": "KML",
    ".kmz": "LIBKML",
    ".fgb": "FlatGeobuf",
    ".gdb": "OpenFileGDB",
}
_KIND_TYPES = {"polygon": POLYGONAL, "line": LINEAL, "point": PUNTAL}
_KIND_DIM = {"polygon": 2, "line": 1, "point": 0}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _refuse(code: str, zh: str, en: str, status: int = 422, **detail: Any) -> InputRefused:
    return InputRefused(code, zh, en, status=status, detail=detail)


def _find_datasets(root: Path) -> list[Path]:
    found: list[Path] = []
    for p in sorted(root.rglob("*")):
        if any(part.endswith(".gdb") for part in p.relative_to(root).parts[:-1]):
            continue  # files inside a FileGDB folder
        if p.suffix.lower() in DATASET_SUFFIXES and (p.is_file() or p.suffix.lower() == ".gdb"):
            found.append(p)
    return found


def resolve_dataset(path: Path, workdir: Path, sublayer: str | None, max_bytes: int) -> tuple[Path, str | None]:
    """The dataset to open inside an upload (unzipping as needed) and, for zips, the member picked."""
    if not path.exists():
        raise _refuse("E_FILE_MISSING", f"文件不存在：{path}", f"File not found: {path}", status=404)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        safe_extract(path, workdir, max_bytes)
        datasets = _find_datasets(workdir)
        if not datasets:
            raise _refuse("E_ZIP_NO_DATA", "压缩包中没有可读取的图层文件（.shp/.gpkg/.gdb/.geojson…）",
                          "The archive holds no readable layer file (.shp/.gpkg/.gdb/.geojson…)", status=415)
        if len(datasets) > 1:
            names = [str(d.relative_to(workdir)) for d in datasets]
            pick = [d for d, n in zip(datasets, names) if sublayer and (n == sublayer or d.stem == sublayer)]
            if not pick:
                raise _refuse("E_ZIP_MULTIPLE", "压缩包中有多个图层文件，请用 sublayer 指定其一",
                              "The archive holds several layer files; pick one with sublayer",
                              candidates=names)
            return pick[0], None
        return datasets[0], sublayer
    if suffix not in DATASET_SUFFIXES:
        raise _refuse("E_FORMAT_UNKNOWN", f"不支持的文件格式：{path.name}",
                      f"Unsupported file format: {path.name}", status=415,
                      supported=sorted(set(DATASET_SUFFIXES) | {".zip"}))
    return path, sublayer


def _pick_sublayer(dataset: Path, sublayer: str | None) -> str | None:
    try:
        layers = pyogrio.list_layers(dataset)
    except Exception as exc:  # GDAL says it cannot open the file
        raise _refuse("E_FILE_UNREADABLE", f"无法读取文件：{dataset.name}", f"Cannot read file: {dataset.name}",
                      reason=str(exc)) from None
    names = [str(n) for n, _ in layers]
    if sublayer is not None:
        if sublayer not in names:
            raise _refuse("E_SUBLAYER_UNKNOWN", f"文件中没有图层“{sublayer}”", f"No layer '{sublayer}' in the file",
                          layers=names)
        return sublayer
    spatial = [str(n) for n, g in layers if g is not None]
    if len(spatial) > 1:
        raise _refuse("E_SUBLAYER_REQUIRED", "文件中有多个图层，请用 sublayer 指定其一",
                      "The file holds several layers; pick one with sublayer", layers=spatial)
    return spatial[0] if spatial else (names[0] if names else None)


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
    report.file_sha256 = sha256_file(path) if path.is_file() else _sha256_dir(path)
    with tempfile.TemporaryDirectory(prefix="ecoredline-import-") as tmp:
        dataset, sublayer = resolve_dataset(path, Path(tmp), sublayer, max_bytes)
        layer = _pick_sublayer(dataset, sublayer)
        report.sublayer = layer
        report.driver = DATASET_SUFFIXES.get(dataset.suffix.lower(), "")
        if dataset.suffix.lower() == ".shp":
            if encoding:
                report.encoding, report.encoding_source = encoding, "user"
            else:
                report.encoding, report.encoding_source = shapefile_encoding(dataset)
        else:
            report.encoding, report.encoding_source = encoding, ("user" if encoding else "n/a")
        note("read")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                meta, _fids, wkb, field_data = pyogrio.raw.read(
                    dataset, layer=layer, encoding=report.encoding if dataset.suffix.lower() == ".shp" else encoding
                )
        except Exception as exc:
            raise _refuse("E_FILE_UNREADABLE", f"无法读取文件：{path.name}", f"Cannot read file: {path.name}",
                          reason=str(exc)) from None
    fields = [str(f) for f in meta["fields"]]
    records = _records(fields, field_data)
    geoms = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else np.full(len(records), None)
    report.features_read = len(geoms)
    if len(geoms) == 0:
        raise _refuse("E_LAYER_EMPTY", "图层中没有要素", "The layer holds no features")
    note("crs")
    src_epsg, geoms = _resolve_crs(meta.get("crs"), crs, geoms, report, path.name)
    note("validate")
    keep, geoms = _validate(geoms, spec.geometry, report)
    if not keep.any():
        raise _refuse("E_LAYER_EMPTY", "修复后图层中没有有效要素", "No valid feature is left after repair",
                      dropped=report.dropped[:20])
    geoms = geoms[keep]
    records = [r for r, k in zip(records, keep) if k]
    if src_epsg != STORAGE_EPSG:
        note("transform")
        geoms = from_crs(geoms, src_epsg, STORAGE_EPSG)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if not (in_china(x0, y0) and in_china(x1, y1)):
        raise _refuse("E_OUTSIDE_CHINA", "坐标转换后不在中国范围内，请检查坐标系", "After transformation the layer "
                      "lies outside China: check the CRS", bounds=[x0, y0, x1, y1], crs=report.crs_detected)
    note("attributes")
    attrs = [catalog.map_attributes(kind, r) for r in records]
    report.field_mapping = _field_mapping(fields, catalog, kind)
    report.features_kept = len(geoms)
    report.vertex_count = int(shapely.get_num_coordinates(geoms).sum())
    return LayerData(kind=kind, geometries=geoms, attributes=attrs, report=report)


def _sha256_dir(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(bytes.fromhex(sha256_file(p)))
    return h.hexdigest()


def _records(fields: list[str], field_data: list[np.ndarray]) -> list[dict[str, Any]]:
    if not fields:
        return [{} for _ in range(len(field_data[0]) if field_data else 0)]
    n = len(field_data[0])
    cols = [list(col) for col in field_data]
    return [{f: cols[j][i] for j, f in enumerate(fields)} for i in range(n)]


def _field_mapping(fields: list[str], catalog: Catalog, kind: str) -> dict[str, str]:
    spec = catalog.kind(kind)
    out = {}
    for f in fields:
        u = f.upper()
        target = f if f in spec.attributes else spec.fields.get(u) or catalog.common_fields.get(u)
        if target and target in spec.attributes:
            out[f] = target
    return out


def _resolve_crs(
    file_crs: Any, user_crs: str | None, geoms: np.ndarray, report: ImportReport, name: str
) -> tuple[int | str, np.ndarray]:
    if user_crs:
        try:
            crs = CRS.from_user_input(user_crs)
        except Exception:
            raise _refuse("E_CRS_INVALID", f"无法识别坐标系“{user_crs}”", f"Unknown CRS '{user_crs}'",
                          crs=user_crs) from None
        report.crs_source = "user"
        return _epsg_or_wkt(crs, report), geoms
    if file_crs:
        crs = CRS.from_user_input(file_crs)
        report.crs_source = "prj" if report.driver == "ESRI Shapefile" else "header"
        return _epsg_or_wkt(crs, report), geoms
    valid = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(valid) == 0:
        raise _refuse("E_LAYER_EMPTY", "图层中没有几何", "The layer holds no geometry")
    guess = infer_crs(*shapely.total_bounds(valid))
    if guess is None:
        raise _refuse("E_CRS_UNKNOWN", f"{name} 未声明坐标系且无法推断（无带号的高斯坐标需指定 --crs）",
                      f"{name} declares no CRS and it cannot be inferred (GK coordinates without a zone "
                      "prefix need --crs)", bounds=list(shapely.total_bounds(valid)))
    report.crs_source = guess.source
    report.crs_detected = f"EPSG:{guess.epsg}"
    report.warnings.append(guess.note)
    if guess.swapped:
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    return guess.epsg, geoms


_OLD_DATUMS = ("xian", "beijing", "xi'an")


def _epsg_or_wkt(crs: CRS, report: ImportReport) -> int | str:
    datum = (crs.datum.name if crs.datum else "").lower()
    if any(d in datum for d in _OLD_DATUMS):
        raise _refuse(
            "E_CRS_DATUM_UNSUPPORTED",
            f"数据使用 {crs.datum.name} 基准（{crs.name}）：与 CGCS2000 之间没有公开的转换参数，直接转换会偏移数十至上百米。"
            "请先用官方七参数转换为 CGCS2000 后再导入",
            f"The data uses the {crs.datum.name} datum ({crs.name}); there is no public transformation to CGCS2000 "
            "and a direct one is off by tens to hundreds of metres. Convert it with the official 7 parameters first",
            crs=crs.name,
        )
    epsg = crs.to_epsg(min_confidence=70)
    if epsg in (4326, 4490) or (crs.is_geographic and epsg is None and "2000" in crs.name):
        if epsg == 4326:
            report.warnings.append("WGS 84 经纬度按 CGCS2000 (EPSG:4490) 读取：两者差异在厘米级")
        report.crs_detected = f"EPSG:{epsg or 4490}"
        return STORAGE_EPSG
    if epsg is not None:
        report.crs_detected = f"EPSG:{epsg}"
        return epsg
    report.crs_detected = crs.name
    return crs.to_wkt()


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
