"""Project boundaries as planners hold them, read into a ``Footprint`` with an echo of what was understood.

Formats: 界址点 TXT, zipped shapefile, DXF, KML/KMZ, GeoJSON, GeoPackage, FlatGeobuf, CSV/XLSX corner
lists, and a GeoJSON object posted as JSON. Every reader yields raw geometries with what is known of
their CRS; ``_finish`` does the rest once: axis swap, GCJ-02, transformation, China check,
line/point handling, repair, slivers, limits, areas and the echo.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count, repeat
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from app.domain.catalog import plain_value
from app.domain.crs import (
    STORAGE_EPSG,
    cgcs2000_gk_epsg,
    gcj02_to_wgs84,
    gk3_epsg,
    gk3_zone_of,
    gk_false_easting,
    gk_zone_in_china,
    in_china,
    transformer,
)
from app.domain.footprint import Footprint, FootprintEcho, Parcel
from app.domain.geometry import (
    chunked,
    collect,
    coordinate_box,
    dissolve,
    dissolve_parts,
    ellipsoidal_areas_in_plane,
    from_crs,
    is_projected,
    is_valid,
    to_gk,
    to_storage,
)
from app.ingest.archive import safe_extract
from app.ingest.cad import read_dxf
from app.ingest.tables import read_corner_list
from app.ingest.vector import LAYER_SUFFIXES, CrsResolution, RawVector, read_vector, refuse, resolve_crs

FORMATS = {
    ".txt": "界址点TXT", ".zip": "zip", ".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON",
    ".json": "GeoJSON", ".kml": "KML", ".kmz": "KMZ", ".fgb": "FlatGeobuf", ".dxf": "DXF", ".csv": "CSV",
    ".xlsx": "XLSX",
}
BOUNDARY_VECTOR_SUFFIXES = {k: v for k, v in LAYER_SUFFIXES.items() if k != ".gdb"}


_YES = {"1", "true", "yes", "on"}


def read_flag(value: Any) -> bool:
    """A yes/no option as the API and the CLI both take it: ``true`` or 1, yes, on (any case) as text."""
    return value is True or (not isinstance(value, bool) and str(value).strip().lower() in _YES)


@dataclass
class BoundaryOptions:
    crs: str | None = None  # the user's CRS for coordinates that carry none (or to override)
    zone: int | None = None  # 3° GK zone for eastings without a zone prefix
    gcj02: bool = False  # lon/lat input comes from a web map in GCJ-02
    layer: str | None = None  # DXF layer, GeoPackage table or zip member
    encoding: str | None = None
    linear: bool = False  # a linear project (road, pipeline): lines are buffered by row_width_m
    row_width_m: float | None = None
    accept_datum_approximation: bool = False  # 西安80/北京54 without parameters
    max_bytes: int = 50 << 20
    max_parts: int = 1_000
    max_vertices: int = 1_000_000
    sliver_m2: float = 1.0
    area_tolerance: float = 0.005


def limits(settings: Any) -> dict[str, Any]:
    """The ``BoundaryOptions`` an operator sets (``ECOREDLINE_MAX_UPLOAD_MB``, ``ECOREDLINE_BOUNDARY_*``),
    for the API and the CLI alike."""
    return {"max_bytes": settings.max_upload_mb << 20, "max_parts": settings.boundary_max_parts,
            "max_vertices": settings.boundary_max_vertices, "sliver_m2": settings.boundary_sliver_m2}


@dataclass
class ParsedBoundary:
    """An upload decoded into its parcels, before anything is validated, united or measured."""

    geoms: np.ndarray
    crs: CrsResolution
    format: str
    parcels: list[Parcel] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    encoding: str | None = None


def note(code: str, zh: str, en: str, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "message_zh": zh, "message_en": en, **({"line": line} if line else {})}


_CRS_NOTES_EN = [
    (re.compile(r"^WGS 84 经纬度按 CGCS2000"), lambda m: "WGS 84 lon/lat read as CGCS2000 (EPSG:4490): the two "
     "differ by centimetres"),
    (re.compile(r"^按用户要求近似转换：(.+) 只做椭球变换"), lambda m: f"Approximated as requested: {m.group(1)} "
     "is changed to CGCS2000 by its ellipsoid only (no datum shift); positions can be off by about 100 m, "
     "for a rough screening only"),
    (re.compile(r"^经纬度坐标，按 CGCS2000"), lambda m: "Lon/lat coordinates, read as CGCS2000 geographic (EPSG:4490)"),
    (re.compile(r"^文件声明 (.+)，但坐标不是经纬度"), lambda m: f"The file declares {m.group(1)} but the coordinates "
     "are not lon/lat: the declaration is ignored and the CRS inferred from the coordinates"),
    (re.compile(r"^高斯-克吕格坐标，带号前缀 (\d+)：CGCS2000 ([36])° 分带第 \d+ 带 \((EPSG:\d+)\)(；X/Y 轴互换)?"),
     lambda m: f"Gauss–Krüger coordinates with zone prefix {m.group(1)}: CGCS2000 {m.group(2)}° zone {m.group(1)} "
     f"({m.group(3)})" + ("; X/Y swapped (X is the northing)" if m.group(4) else "")),
]


def crs_note(text: str) -> dict[str, Any]:
    """A CRS note in both languages (the resolver words them in Chinese)."""
    code = "W_DATUM_APPROXIMATE" if text.startswith("按用户要求近似转换") else "W_CRS"
    for pattern, english in _CRS_NOTES_EN:
        m = pattern.match(text)
        if m:
            return note(code, text, english(m))
    return note(code, text, text)


MAX_ROW_WIDTH_M = 1_000.0


def _check_row_width(options: BoundaryOptions) -> None:
    width = options.row_width_m
    if width is not None and not (isinstance(width, (int, float)) and not isinstance(width, bool)
                                  and math.isfinite(width) and 0 < width <= MAX_ROW_WIDTH_M):
        raise refuse("E_REQUEST_INVALID", f"row_width_m（用地宽度）须为 0–{MAX_ROW_WIDTH_M:g} 米之间的数值",
                     f"row_width_m (right-of-way width) must be a number of metres in (0, {MAX_ROW_WIDTH_M:g}]")


def _zone_crs(options: BoundaryOptions) -> str | None:
    if options.crs:
        return options.crs
    if options.zone is not None:
        if not gk_zone_in_china(options.zone):
            raise refuse("E_ZONE_INVALID", f"带号 {options.zone} 不是中国范围内的 3° 带（25–45）",
                         f"Zone {options.zone} is not a 3° zone in China (25–45)", zone=options.zone)
        return f"EPSG:{cgcs2000_gk_epsg(options.zone)}"
    return None


def read_boundary(data: bytes, filename: str, options: BoundaryOptions | None = None) -> Footprint:
    """Read an uploaded boundary file; refuse (4xx ``InputRefused``) anything that cannot be trusted."""
    options = options or BoundaryOptions()
    name = _checked_name(data, filename, options)
    # a big upload's digest on the other core while GDAL reads it (hashlib lets go of the GIL)
    with _beside(len(data) > _HASH_BESIDE_BYTES) as bg:
        digest = bg.submit(lambda: hashlib.sha256(data).hexdigest())
        raw = _parse(data, name, options)
    fp = _finish(raw, options)
    fp.echo.file_name = name
    fp.echo.input_sha256 = digest.result()
    return fp


def parse_boundary(data: bytes, filename: str, options: BoundaryOptions | None = None) -> ParsedBoundary:
    """The first half of ``read_boundary``: the file decoded into parcels, attributes and a CRS, with the
    same refusals. This is the step that compares with a plain reader such as pyogrio's."""
    options = options or BoundaryOptions()
    return _parse(data, _checked_name(data, filename, options), options)


def _checked_name(data: bytes, filename: str, options: BoundaryOptions) -> str:
    """The upload's file name, once the refusals that need no reading have passed."""
    _zone_crs(options)  # refuse a bad zone or width before reading anything
    _check_row_width(options)
    if len(data) > options.max_bytes:
        raise refuse("E_FILE_TOO_LARGE", f"文件超过 {options.max_bytes >> 20} MB 的上限",
                     f"The file exceeds the {options.max_bytes >> 20} MB limit", status=413)
    name = Path((filename or "upload").replace("\x00", "")).name or "upload"  # (kept in the record: no NUL)
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise refuse("E_FORMAT_UNKNOWN", f"不支持的边界文件格式：{name}", f"Unsupported boundary file format: {name}",
                     status=415, supported=sorted(FORMATS))
    if not data and suffix != ".txt":  # the TXT reader says more precisely what is missing
        raise refuse("E_FILE_EMPTY", "文件为空", "The file is empty")
    if suffix in (".kml", ".kmz") or data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        _guard_kml(data, suffix, options)  # any XML, whatever its name says: GDAL picks drivers by content
    return name


def _parse(data: bytes, name: str, options: BoundaryOptions) -> ParsedBoundary:
    suffix = Path(name).suffix.lower()
    if suffix == ".txt":
        return _from_txt(data, options)
    with tempfile.TemporaryDirectory(prefix="ecoredline-boundary-") as tmp:
        path = Path(tmp) / ("upload" + suffix)
        if suffix == ".zip":  # unzipped from memory: the upload itself need not be written
            return _from_vector(path, Path(tmp) / "unzipped", options, FORMATS[suffix], data)
        path.write_bytes(data)
        if suffix == ".dxf":
            return _from_dxf(path, options)
        if suffix in (".csv", ".xlsx"):
            return _from_table(path, options)
        return _from_vector(path, Path(tmp) / "unzipped", options, FORMATS[suffix])


def read_geojson_object(obj: dict[str, Any], options: BoundaryOptions | None = None) -> Footprint:
    """A GeoJSON geometry, Feature or FeatureCollection posted as JSON (RFC 7946 lon/lat unless ``crs``).

    Parsed with shapely directly: no temporary file, no GDAL, since this is the API's hot path.
    """
    options = options or BoundaryOptions()
    _zone_crs(options)
    _check_row_width(options)
    if not isinstance(obj, dict) or "type" not in obj:
        raise refuse("E_GEOMETRY_INVALID", "geometry 须为 GeoJSON 对象", "geometry must be a GeoJSON object")
    if obj["type"] == "FeatureCollection":
        feats = obj.get("features") or []
        if not isinstance(feats, list):
            raise refuse("E_GEOMETRY_INVALID", "features 须为数组", "features must be an array")
        members = [f.get("geometry") for f in feats if isinstance(f, dict)]
    elif obj["type"] == "Feature":
        members = [obj.get("geometry")]
    else:
        members = [obj]
    try:
        geoms = np.array([shapely.from_geojson(json.dumps(m)) for m in members if m], dtype=object)
    except (shapely.errors.GEOSException, ValueError, TypeError):
        raise refuse("E_GEOMETRY_INVALID", "geometry 不是合法的 GeoJSON 几何", "geometry is not a valid GeoJSON "
                     "geometry") from None
    if len(geoms) == 0:
        raise refuse("E_BOUNDARY_EMPTY", "没有几何", "No geometry was given")
    res = resolve_crs("EPSG:4326", _zone_crs(options), geoms, "geometry",  # RFC 7946: CRS84
                      accept_datum_approximation=options.accept_datum_approximation)
    fp = _finish(ParsedBoundary(geoms, res, "GeoJSON (JSON)", [Parcel(index=i + 1) for i in range(len(geoms))],
                      [crs_note(n) for n in res.notes]), options)
    fp.echo.input_sha256 = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
    return fp


def _guard_kml(data: bytes, suffix: str, options: BoundaryOptions) -> None:
    """Refuse DTDs and entity declarations (XXE, billion laughs) before any XML parser sees the file."""
    docs = [data]
    if suffix == ".kmz":
        with tempfile.TemporaryDirectory(prefix="ecoredline-kmz-") as tmp:
            path = Path(tmp) / "doc.kmz"
            path.write_bytes(data)
            files = safe_extract(path, Path(tmp) / "x", options.max_bytes * 20)
            docs = [f.read_bytes() for f in files if f.suffix.lower() == ".kml"]
    for doc in docs:
        if b"<!DOCTYPE" in doc or b"<!ENTITY" in doc:
            raise refuse("E_KML_ENTITY", "KML 含有 DOCTYPE/ENTITY 声明，出于安全原因拒绝读取",
                         "The KML declares a DOCTYPE/ENTITY: refused for safety (XML entity attacks)")


# -- readers -----------------------------------------------------------------------------------------
def _from_txt(data: bytes, options: BoundaryOptions) -> ParsedBoundary:
    from app.ingest.jzd_txt import parse_jzd_txt

    parsed = parse_jzd_txt(data, crs=options.crs, zone=options.zone,
                           accept_datum_approximation=options.accept_datum_approximation,
                           area_tolerance=options.area_tolerance)
    geoms = np.array([p.geometry for p in parsed.parcels], dtype=object)
    src: int | str = parsed.crs
    if isinstance(src, str) and src.upper().startswith("EPSG:"):
        src = int(src.split(":", 1)[1])
    detected = parsed.crs if isinstance(parsed.crs, str) and parsed.crs.startswith("EPSG") else _crs_name(parsed.crs)
    res = CrsResolution(src, detected, parsed.crs_source)
    parcels = [
        Parcel(index=p.index, code=p.code, name=p.name, use=p.use,
               declared_area_m2=p.declared_area_ha * 10_000 if p.declared_area_ha is not None else None,
               rings=len(p.ring_roles), attributes={"line": p.line, "shape_type": p.shape_type,
                                                    "ring_roles": {str(k): v for k, v in p.ring_roles.items()}})
        for p in parsed.parcels
    ]
    warnings = [note(w.code, w.message_zh, w.message_en, w.line) for w in parsed.warnings]
    return ParsedBoundary(geoms, res, FORMATS[".txt"], parcels, warnings, parsed.encoding)


def _crs_name(crs: str) -> str:
    """A readable name for a PROJ string or WKT (old-datum cases of the TXT reader)."""
    from pyproj import CRS

    try:
        return CRS.from_user_input(crs).name
    except Exception:
        return crs[:80]


def _from_dxf(path: Path, options: BoundaryOptions) -> ParsedBoundary:
    shapes = read_dxf(path, options.layer, allow_lines=options.linear)
    res = resolve_crs(None, _zone_crs(options), shapes.geoms, "DXF",
                      accept_datum_approximation=options.accept_datum_approximation)
    warnings = [note("W_DXF_LAYER", n, f"DXF layer '{shapes.layer}' picked automatically") for n in shapes.notes]
    warnings += [crs_note(n) for n in res.notes]
    parcels = [Parcel(index=i + 1, attributes={"layer": shapes.layer}) for i in range(len(shapes.geoms))]
    return ParsedBoundary(shapes.geoms, res, "DXF", parcels, warnings, shapes.encoding)


def _from_table(path: Path, options: BoundaryOptions) -> ParsedBoundary:
    corners = read_corner_list(path)
    user = _zone_crs(options)
    res = resolve_crs("EPSG:4490" if corners.lonlat else None, user, corners.geoms, path.name,
                      accept_datum_approximation=options.accept_datum_approximation)
    parcels = [Parcel(index=i + 1, code=n) for i, n in enumerate(corners.part_names)]
    warnings = [note("W_TABLE_RING_PART", n, "A ring outside the outer ring was read as a separate part")
                for n in corners.notes]
    warnings += [crs_note(n) for n in res.notes]
    return ParsedBoundary(corners.geoms, res, path.suffix.lower().lstrip(".").upper(), parcels, warnings,
                          corners.encoding)


def _from_vector(path: Path, workdir: Path, options: BoundaryOptions, fmt: str,
                 data: bytes | None = None) -> ParsedBoundary:
    raw = read_vector(path, workdir, sublayer=options.layer, encoding=options.encoding,
                      max_bytes=options.max_bytes * 20, suffixes=BOUNDARY_VECTOR_SUFFIXES, data=data)
    if len(raw.geoms) == 0:
        raise refuse("E_BOUNDARY_EMPTY", "文件中没有图形", "The file holds no geometry")
    res = resolve_crs(raw.file_crs, _zone_crs(options), raw.geoms, path.name,
                      file_source="prj" if raw.driver == "ESRI Shapefile" else "header",
                      accept_datum_approximation=options.accept_datum_approximation)
    warnings = [crs_note(n) for n in res.notes]
    return ParsedBoundary(raw.geoms, res, raw.driver or fmt, _vector_parcels(raw), warnings, raw.encoding)


def _vector_parcels(raw: RawVector) -> list[Parcel]:
    """One parcel per feature, its name and attributes, made column by column (a cadastral export has
    tens of thousands of parcels)."""
    columns = [[v if v is None or type(v) in _PLAIN else plain_value(v) for v in c] for c in raw.columns]
    labels: list[Any] = [None] * len(raw.geoms)
    for f, col in zip(raw.fields, columns, strict=True):
        if f.lower() in ("name", "名称", "dkmc", "地块名称"):
            labels = [old if old is not None or v is None else str(v) for old, v in zip(labels, col, strict=True)]
    rows = zip(*columns, strict=True) if columns else ((),) * len(labels)
    fields = raw.fields
    if len(set(fields)) == len(fields):  # (dict and zip in C; a None is then taken out column by column)
        attributes = list(map(dict, map(zip, repeat(fields), rows)))
        for key, col in zip(fields, columns, strict=True):
            if None in col:  # a value the file does not have is left out, not kept as null
                for attrs, v in zip(attributes, col, strict=True):
                    if v is None:
                        del attrs[key]
    else:  # a name twice (GDAL passes a DBF's through): its last value given wins
        attributes = [{k: v for k, v in zip(fields, row) if v is not None} for row in rows]
    return [Parcel(i, name=label, attributes=attrs) for i, label, attrs in zip(count(1), labels, attributes)]


_PLAIN = (str, int, float, bool)


# -- the common finish ----------------------------------------------------------------------------------
_PARALLEL_VERTICES = 100_000
MAX_PROJECTED_SPAN_M = 6_000_000.0  # China spans ~5,200 km east to west
_HASH_BESIDE_BYTES = 4 << 20


class _Inline:
    """An executor that runs each job at once, on the caller's thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as e:  # re-raised by result(), as a thread pool would
            done.set_exception(e)
        return done


def _beside(big: bool) -> ThreadPoolExecutor | _Inline:
    """A second thread for jobs that can run beside the main work (GEOS, PROJ and hashlib release the
    GIL), for big uploads only: for small ones a new thread costs more than it saves, as it sets pyproj's
    transformations up again (~3 ms each)."""
    return ThreadPoolExecutor(1) if big else _Inline()


def _finish(raw: ParsedBoundary, options: BoundaryOptions) -> Footprint:
    geoms = np.asarray(raw.geoms, dtype=object)
    warnings = list(raw.warnings)
    repairs: list[dict[str, Any]] = []
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        raise refuse("E_BOUNDARY_EMPTY", "文件中没有图形", "The file holds no geometry")
    nverts = int(shapely.get_num_coordinates(geoms[present]).sum())
    if nverts > options.max_vertices:  # refuse before any repair or union work
        raise refuse("E_TOO_MANY_VERTICES", f"边界有 {nverts} 个顶点，超过上限 {options.max_vertices}",
                     f"The boundary has {nverts} vertices, over the limit of {options.max_vertices}", status=413)
    coords = shapely.get_coordinates(geoms[present], include_z=True)
    if not np.isfinite(coords[:, :2]).all():
        raise refuse("E_COORDINATE_INVALID", "坐标中含有非数值（NaN/无穷大）", "Coordinates include NaN or infinity")
    # every vertex's box, holes too, in the source's axes as they will be read
    box = coordinate_box(coords[:, 1], coords[:, 0]) if raw.crs.swapped else coordinate_box(coords[:, 0], coords[:, 1])
    span = max(box[2] - box[0], box[3] - box[1])
    if is_projected(raw.crs.src) and span > MAX_PROJECTED_SPAN_M:  # before any edge is cut to 200 m pieces
        raise refuse("E_OUTSIDE_CHINA", f"坐标范围跨越 {span / 1000:,.0f} 公里，超出中国范围（按 {raw.crs.detected} 读取），请检查坐标",
                     f"The coordinates span {span / 1000:,.0f} km, more than China does (read as {raw.crs.detected}): "
                     "check them", bounds=[float(v) for v in box])
    if shapely.has_z(geoms[present]).any():
        geoms[present] = shapely.force_2d(geoms[present])
        repairs.append(note("R_Z_DROPPED", "已舍弃 Z/M 坐标", "Z and M coordinates dropped"))
    if raw.crs.swapped:
        geoms[present] = shapely.transform(geoms[present], lambda xy: xy[:, ::-1])
        warnings.append(note("W_AXES_SWAPPED", "X/Y 坐标列互换（X 应为北坐标），已按北、东坐标纠正",
                             "X/Y columns were swapped (X must be the northing); corrected"))
    src = raw.crs.src
    if options.gcj02:
        if src == STORAGE_EPSG:
            geoms[present] = shapely.transform(geoms[present], lambda xy: np.column_stack(
                gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
            warnings.append(note("W_GCJ02", "已按 GCJ-02（火星坐标，网络地图）转换为 CGCS2000 经纬度",
                                 "Converted from GCJ-02 (web-map) to CGCS2000 lon/lat"))
        else:
            warnings.append(note("W_GCJ02_IGNORED", "坐标不是经纬度，忽略 GCJ-02 声明",
                                 "Coordinates are not lon/lat: the GCJ-02 declaration was ignored"))
    parcels = [p for p, k in zip(raw.parcels, present) if k] if len(raw.parcels) == len(geoms) else raw.parcels
    plane = _source_plane(src)
    shaped = _shape_in_source_plane(geoms[present], src, plane, options, nverts, box) if plane is not None else None
    if shaped is None:
        shaped = _shape_in_lonlat(geoms[present], raw.crs, options, nverts)
    footprint, epsg = shaped.footprint, shaped.gk_epsg
    repairs += shaped.repairs
    nparts = int(shapely.get_num_geometries(footprint))  # (not get_parts: it copies every part)
    if nparts > options.max_parts:
        raise refuse("E_TOO_MANY_PARTS", f"边界有 {nparts} 个部分，超过上限 {options.max_parts}",
                     f"The boundary has {nparts} parts, over the limit of {options.max_parts}", status=413)
    nverts = int(shapely.get_num_coordinates(footprint)) - shaped.added_vertices  # what the user drew
    if nverts > options.max_vertices:
        raise refuse("E_TOO_MANY_VERTICES", f"边界有 {nverts} 个顶点，超过上限 {options.max_vertices}",
                     f"The boundary has {nverts} vertices, over the limit of {options.max_vertices}", status=413)
    for parcel, a in zip(parcels, shaped.parcel_areas_gk):
        parcel.area_m2_gk = float(a)
    declared = [p.declared_area_m2 for p in parcels]
    echo = FootprintEcho(
        format=raw.format, crs_detected=raw.crs.detected, crs_source=raw.crs.source, parts=nparts,
        area_m2_gk=shaped.area_gk, gk_epsg=epsg, area_m2_ellipsoidal=shaped.area_ellipsoidal,
        declared_area_m2=float(sum(declared)) if declared and all(d is not None for d in declared) else None,
        parcels=parcels, repairs=repairs, warnings=warnings, encoding=raw.encoding,
        linear=options.linear, row_width_m=options.row_width_m,
    )
    fp = Footprint(footprint, echo)
    if shaped.footprint_gk is not None:  # the overlay measures in this plane too: spare it projecting again
        fp.remember_gk(epsg, shaped.footprint_gk)
    return fp


@dataclass
class _Shaped:
    """The repaired, dissolved footprint and its measures, however they were reached."""

    footprint: Any  # lon/lat (EPSG:4490)
    area_gk: float
    gk_epsg: int
    area_ellipsoidal: float
    parcel_areas_gk: np.ndarray
    repairs: list[dict[str, Any]]
    added_vertices: int = 0  # points the storage transformation put on long edges (not the user's)
    footprint_gk: Any = None  # ``footprint`` transformed into the ``gk_epsg`` plane, when that was computed


def _source_plane(src: int | str) -> int | None:
    """The 3° GK plane (EPSG:4534–4554) the source coordinates already lie in, zone prefix or not."""
    zone = gk3_zone_of(src)
    return cgcs2000_gk_epsg(zone[0]) if zone else None


def _shape_in_source_plane(work: np.ndarray, src: int, plane: int, options: BoundaryOptions,
                           nverts: int, box: tuple[float, float, float, float]) -> _Shaped | None:
    """Repair, dissolve and measure where the surveyor drew: in the source's own GK plane.

    Most boundaries come in CGCS2000 3° GK coordinates of the zone they lie in. There, parcel and
    footprint areas need no projection (a zone prefix only shifts the eastings) and only the dissolved
    footprint goes to lon/lat — one pass over the vertices instead of three (tiled cadastral parcels
    dissolve to their outline: a small fraction). None when the footprint's zone is another one (the
    lon/lat path then decides) or when the coordinates do not land in China (it then refuses)."""
    repairs: list[dict[str, Any]] = []
    # inside China? A grid over the extent, with the central meridian, where a GK box reaches furthest
    # north or south, instead of every vertex
    x0, y0, x1, y1 = box
    cm = gk_false_easting(src)  # the central meridian's easting
    xs = np.r_[np.linspace(x0, x1, 5), [cm] if x0 < cm < x1 else []]
    gx, gy = np.meshgrid(xs, np.linspace(y0, y1, 5))
    try:
        lon, lat = transformer(src, STORAGE_EPSG).transform(gx.ravel(), gy.ravel())
    except Exception:  # PROJ refuses: the lon/lat path says why
        return None
    if not (np.isfinite(lon).all() and np.isfinite(lat).all() and all(map(in_china, lon, lat))):
        return None
    identity = lambda g: g  # noqa: E731 — lines are buffered in the plane itself
    polys = _polygons(work, identity, identity, options, repairs)
    with _beside(nverts > _PARALLEL_VERTICES) as bg:
        parcel_areas = bg.submit(shapely.area, polys)
        parts = dissolve_parts(polys)
        areas = shapely.area(parts)
        centre = from_crs(shapely.points(_centroid(parts, areas)), src, STORAGE_EPSG)
        epsg = gk3_epsg(float(centre.x))
        if epsg != plane:
            return None
        parts, _, areas = _drop_slivers(parts, parts, areas, options, repairs)
        area_ell = bg.submit(lambda: float(ellipsoidal_areas_in_plane(parts, src).sum()))
        lonlat = np.concatenate(chunked(lambda p: to_storage(p, src), parts))
        footprint = _mend_projected(lonlat)
        if footprint.is_empty:  # nothing with an area survived the projection (never seen; never screened)
            raise refuse("E_GEOMETRY_DEGENERATE", "边界投影后面积为零", "The boundary has no area once projected")
        added = int(shapely.get_num_coordinates(lonlat).sum()) - int(shapely.get_num_coordinates(parts).sum())
        return _Shaped(footprint, float(areas.sum()), epsg, area_ell.result(), parcel_areas.result(), repairs,
                       max(added, 0))


def _centroid(parts: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """The centroid of disjoint polygons (GEOS's for their MultiPolygon: area-weighted), without building it."""
    xy = shapely.get_coordinates(shapely.centroid(parts))
    return (xy * areas[:, None]).sum(axis=0) / areas.sum() if areas.sum() > 0 else xy.mean(axis=0)


def _mend_projected(parts: np.ndarray) -> Any:
    """The footprint from its projected parts, valid in lon/lat as it was in its plane, mended quietly
    where it is not.

    Edges are cut to 200 m before the projection, so the stored shape keeps to the drawn one within
    ~1 mm; parts closer than that, or a near-degenerate vertex, can still come out overlapping or
    self-touching. Checked cheaply (each part alone, then only parts whose shapes meet: a MultiPolygon's
    own check compares every part with every other, 0.22 s for 25,000 parts), mended by a union.
    """
    broken = not is_valid(parts).all()
    footprint = None
    if not broken and len(parts) > 1:
        a, b = shapely.STRtree(parts).query(parts)  # boxes, then shapes (the tree's predicate: twice as long)
        mine = a < b
        if shapely.intersects(parts[a[mine]], parts[b[mine]]).any():  # parts touching at a point are fine
            footprint = collect(parts)
            broken = not footprint.is_valid
    if not broken:
        return footprint if footprint is not None else collect(parts)
    polys = [p for p in shapely.get_parts(shapely.make_valid(parts)) if shapely.get_dimensions(p) == 2]
    return dissolve(np.array(polys, dtype=object))


def _shape_in_lonlat(work: np.ndarray, crs: CrsResolution, options: BoundaryOptions, nverts: int) -> _Shaped:
    """Transform every vertex to lon/lat first, then repair, dissolve and measure in the GK plane of the
    footprint's centre: for sources in any other CRS (lon/lat, 6° zones, a zone other than the
    footprint's, old datums)."""
    repairs: list[dict[str, Any]] = []
    src = crs.src
    try:
        lonlat = np.concatenate(chunked(lambda g: to_storage(g, src), work))  # PROJ lets go of the GIL
    except Exception as exc:  # PROJ refuses the transformation
        raise refuse("E_CRS_TRANSFORM", "无法把坐标转换为 CGCS2000", "Cannot transform the coordinates to CGCS2000",
                     reason=str(exc)) from None
    added = int(shapely.get_num_coordinates(lonlat).sum()) - int(shapely.get_num_coordinates(work).sum())
    xy = shapely.get_coordinates(lonlat)
    x0, y0, x1, y1 = coordinate_box(xy[:, 0], xy[:, 1])  # every vertex: a hole's too, NaN where PROJ failed
    if not (np.isfinite([x0, y0, x1, y1]).all() and in_china(x0, y0) and in_china(x1, y1)):
        raise refuse("E_OUTSIDE_CHINA", f"坐标转换后不在中国范围内（按 {crs.detected} 读取），请检查坐标系或带号",
                     f"After transformation the boundary lies outside China (read as {crs.detected}): "
                     "check the CRS or zone", bounds=[float(v) if math.isfinite(v) else None for v in (x0, y0, x1, y1)])
    buffer_epsg = gk3_epsg(float(shapely.centroid(shapely.geometrycollections(lonlat)).x))
    polys = _polygons(lonlat, lambda g: to_gk(g, buffer_epsg), lambda g: from_crs(g, buffer_epsg, STORAGE_EPSG),
                      options, repairs)
    # big uploads: parcel areas in the zone of the parcels' centre while the union runs; the footprint's
    # zone below is almost always the same, and is checked
    with _beside(nverts > _PARALLEL_VERTICES) as bg:
        parcel_areas = bg.submit(lambda: shapely.area(to_gk(polys, buffer_epsg)))
        parts = dissolve_parts(polys)
        epsg = gk3_epsg(float(_centroid(parts, shapely.area(parts))[0]))  # where the stores and the overlay measure
        areas_gk = parcel_areas.result() if epsg == buffer_epsg else shapely.area(to_gk(polys, epsg))
        parts_gk = np.concatenate(chunked(lambda p: to_gk(p, epsg), parts))
        kept, kept_gk, kept_areas = _drop_slivers(parts, parts_gk, shapely.area(parts_gk), options, repairs)
        area_ell = float(ellipsoidal_areas_in_plane(kept_gk, epsg).sum())  # no projection again
    return _Shaped(collect(kept), float(kept_areas.sum()), epsg, area_ell, areas_gk, repairs, added,
                   collect(kept_gk))


def _polygons(geoms: np.ndarray, to_plane: Callable[[Any], Any], from_plane: Callable[[Any], Any],
              options: BoundaryOptions, repairs: list[dict[str, Any]]) -> np.ndarray:
    """Every input geometry as a valid polygon: lines/points buffered for linear projects, else refused.

    Vectorised over the common case (valid polygons); only the exceptions are handled one by one.
    """
    out = np.asarray(geoms, dtype=object).copy()
    dims = shapely.get_dimensions(out)
    for i in np.flatnonzero(dims < 2):
        dim = int(dims[i])
        if not (options.linear and options.row_width_m and options.row_width_m > 0):
            raise refuse("E_GEOMETRY_NOT_POLYGON",
                         f"第 {i + 1} 个图形是{'点' if dim == 0 else '线'}，不是面。线性工程请声明 linear 并给出 row_width_m（用地宽度）",
                         f"Shape {i + 1} is a {'point' if dim == 0 else 'line'}, not an area. For a linear project "
                         "declare linear with row_width_m (the right-of-way width)", part=int(i) + 1)
        out[i] = from_plane(shapely.buffer(to_plane(out[i]), options.row_width_m / 2,
                                           cap_style="flat" if dim == 1 else "round"))
        repairs.append(note("R_BUFFERED", f"第 {i + 1} 个图形按用地宽度 {options.row_width_m} m 缓冲为面",
                            f"Shape {i + 1} buffered by a {options.row_width_m} m right of way"))
    invalid = np.flatnonzero(~is_valid(out))
    for i in invalid:
        why = shapely.is_valid_reason(out[i])
        out[i] = shapely.make_valid(out[i])
        repairs.append(note("R_MADE_VALID", f"第 {i + 1} 个图形无效（{why}），已修复",
                            f"Shape {i + 1} was invalid ({why}) and was repaired"))
    kind = shapely.get_type_id(out)
    mixed = np.flatnonzero((kind != 3) & (kind != 6))  # not (Multi)Polygon after repair (np.isin: 40 µs)
    for i in mixed:
        polys = [p for p in shapely.get_parts(out[i]) if shapely.get_dimensions(p) == 2]
        if not polys:
            raise refuse("E_GEOMETRY_DEGENERATE", f"第 {i + 1} 个图形面积为零", f"Shape {i + 1} has no area",
                         part=int(i) + 1)
        out[i] = shapely.union_all(polys)
    empty = np.flatnonzero(shapely.is_empty(out))  # a line of no length buffers to nothing
    if len(empty):
        raise refuse("E_GEOMETRY_DEGENERATE", f"第 {empty[0] + 1} 个图形面积为零（线长为零？）",
                     f"Shape {empty[0] + 1} has no area (a line of no length?)", part=int(empty[0]) + 1)
    return out


def _drop_slivers(parts: np.ndarray, parts_gk: np.ndarray, areas: np.ndarray, options: BoundaryOptions,
                  repairs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop parts under the sliver area (``areas``: measured in the GK plane) from both copies of the
    footprint's parts and from their areas."""
    small = areas < options.sliver_m2
    if small.all():
        raise refuse("E_GEOMETRY_DEGENERATE", f"边界面积小于 {options.sliver_m2} m²",
                     f"The boundary's area is under {options.sliver_m2} m²")
    if not small.any():
        return parts, parts_gk, areas
    repairs.append(note("R_SLIVERS_DROPPED",
                        f"舍弃 {int(small.sum())} 个面积小于 {options.sliver_m2} m² 的碎片（共 {areas[small].sum():.3f} m²）",
                        f"Dropped {int(small.sum())} slivers under {options.sliver_m2} m² "
                        f"({areas[small].sum():.3f} m² in all)"))
    return parts[~small], parts_gk[~small], areas[~small]
