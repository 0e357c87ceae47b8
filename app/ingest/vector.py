"""Opening vector files with GDAL (pyogrio): datasets inside uploads, sub-layers, encodings, CRS."""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from app.domain.crs import STORAGE_EPSG, infer_crs
from app.domain.errors import InputRefused
from app.domain.geometry import extent
from app.ingest.archive import safe_extract
from app.ingest.encoding import shapefile_encoding

LAYER_SUFFIXES = {
    ".shp": "ESRI Shapefile",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".kml": "KML",
    ".kmz": "LIBKML",
    ".fgb": "FlatGeobuf",
    ".gdb": "OpenFileGDB",
}
_OLD_DATUMS = ("xian", "beijing", "xi'an")


def refuse(code: str, zh: str, en: str, status: int = 422, **detail: Any) -> InputRefused:
    return InputRefused(code, zh, en, status=status, detail=detail)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: Path) -> str:
    """A file's SHA-256, or for a folder (FileGDB) the hash of its files' names and hashes."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(bytes.fromhex(sha256_file(p)))
    return h.hexdigest()


def _find_datasets(root: Path, suffixes: dict[str, str]) -> list[Path]:
    found: list[Path] = []
    for p in sorted(root.rglob("*")):
        if any(part.endswith(".gdb") for part in p.relative_to(root).parts[:-1]):
            continue  # files inside a FileGDB folder
        if p.suffix.lower() in suffixes and (p.is_file() or p.suffix.lower() == ".gdb"):
            found.append(p)
    return found


def resolve_dataset(
    path: Path, workdir: Path, sublayer: str | None, max_bytes: int, suffixes: dict[str, str] = LAYER_SUFFIXES,
    data: bytes | None = None,
) -> tuple[Path, str | None]:
    """The dataset to open inside an upload (unzipping as needed) and the sub-layer still to pick.

    ``data``: a zip's bytes, unzipped from memory; ``path`` then only names it."""
    if data is None and not path.exists():
        raise refuse("E_FILE_MISSING", f"文件不存在：{path}", f"File not found: {path}", status=404)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        safe_extract(path if data is None else data, workdir, max_bytes)
        datasets = _find_datasets(workdir, suffixes)
        if not datasets:
            raise refuse("E_ZIP_NO_DATA", "压缩包中没有可读取的图层文件（.shp/.gpkg/.gdb/.geojson…）",
                         "The archive holds no readable layer file (.shp/.gpkg/.gdb/.geojson…)", status=415)
        if len(datasets) > 1:
            names = [str(d.relative_to(workdir)) for d in datasets]
            pick = [d for d, n in zip(datasets, names) if sublayer and (n == sublayer or d.stem == sublayer)]
            if not pick:
                raise refuse("E_ZIP_MULTIPLE", "压缩包中有多个图层文件，请用 sublayer 指定其一",
                             "The archive holds several layer files; pick one with sublayer", candidates=names)
            return pick[0], None
        return datasets[0], sublayer
    if suffix not in suffixes:
        raise refuse("E_FORMAT_UNKNOWN", f"不支持的文件格式：{path.name}", f"Unsupported file format: {path.name}",
                     status=415, supported=sorted(set(suffixes) | {".zip"}))
    return path, sublayer


def pick_sublayer(dataset: Path, sublayer: str | None) -> str | None:
    try:
        layers = pyogrio.list_layers(dataset)
    except Exception as exc:  # GDAL says it cannot open the file
        raise refuse("E_FILE_UNREADABLE", f"无法读取文件：{dataset.name}", f"Cannot read file: {dataset.name}",
                     reason=str(exc)) from None
    names = [str(n) for n, _ in layers]
    if not names:
        raise refuse("E_NO_DATA", f"文件中没有任何图层或要素：{dataset.name}",
                     f"The file holds no layer or feature: {dataset.name}")
    if sublayer is not None:
        if sublayer not in names:
            raise refuse("E_SUBLAYER_UNKNOWN", f"文件中没有图层“{sublayer}”", f"No layer '{sublayer}' in the file",
                         layers=names)
        return sublayer
    spatial = [str(n) for n, g in layers if g is not None]
    if len(spatial) > 1:
        raise refuse("E_SUBLAYER_REQUIRED", "文件中有多个图层，请用 sublayer 指定其一",
                     "The file holds several layers; pick one with sublayer", layers=spatial)
    return spatial[0] if spatial else (names[0] if names else None)


@dataclass
class RawVector:
    """What GDAL read, before CRS resolution and repair."""

    geoms: np.ndarray
    columns: list[list[Any]]  # one per field: Python values (dates as ISO text), None where the file has none
    fields: list[str]
    file_crs: str | None
    driver: str
    sublayer: str | None
    encoding: str | None
    encoding_source: str

    @property
    def records(self) -> list[dict[str, Any]]:
        """Feature by feature: each field's value (None included)."""
        return [dict(zip(self.fields, row, strict=True)) for row in zip(*self.columns, strict=True)] \
            if self.columns else [{} for _ in range(len(self.geoms))]


def read_vector(
    path: Path,
    workdir: Path,
    *,
    sublayer: str | None = None,
    encoding: str | None = None,
    max_bytes: int = 2 << 30,
    suffixes: dict[str, str] = LAYER_SUFFIXES,
    data: bytes | None = None,
) -> RawVector:
    """Open ``path`` (unzipping into ``workdir``; a zip from ``data`` if given) and read every feature with
    its attributes."""
    dataset, sublayer = resolve_dataset(path, workdir, sublayer, max_bytes, suffixes, data)
    layer = pick_sublayer(dataset, sublayer)
    is_shp = dataset.suffix.lower() == ".shp"
    if is_shp and not encoding:
        enc, enc_source = shapefile_encoding(dataset)
    else:
        enc, enc_source = encoding, ("user" if encoding else "n/a")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta, _fids, wkb, field_data = pyogrio.raw.read(dataset, layer=layer, encoding=enc)
    except Exception as exc:
        raise refuse("E_FILE_UNREADABLE", f"无法读取文件：{path.name}", f"Cannot read file: {path.name}",
                     reason=str(exc)) from None
    fields = [str(f) for f in meta["fields"]]
    n = len(field_data[0]) if field_data else (len(wkb) if wkb is not None else 0)
    geoms = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else np.full(n, None, dtype=object)
    return RawVector(np.asarray(geoms, dtype=object), [column_values(col) for col in field_data], fields,
                     meta.get("crs"), suffixes.get(dataset.suffix.lower(), ""), layer, enc, enc_source)


def column_values(col: np.ndarray) -> list[Any]:
    """A field's values as Python values (numbers and dates out of numpy), None for what GDAL fills
    gaps with (None, NaN, NaT) and for infinities; text without NUL characters.

    Column by column (``tolist`` converts in C): a 40,000-parcel shapefile's attributes took 0.2 s value by
    value."""
    values = col.tolist()
    kind = col.dtype.kind
    if kind in "iub":
        return values
    if kind == "f":  # NaN and ±Inf: no value (JSON has none for them)
        return [v if -math.inf < v < math.inf else None for v in values]
    if kind == "c":
        return [None if v != v else v for v in values]
    if kind == "M":  # dates and times as ISO 8601 text, one format wherever they end up (NaT: None)
        return [v.isoformat() if hasattr(v, "isoformat") else None if v is None else str(v) for v in values]
    # text: without NUL characters, which PostgreSQL cannot store (both stores keep the same record)
    return [(v.replace("\x00", "") if "\x00" in v else v) if type(v) is str else None if _missing(v) else v
            for v in values]


def _missing(v: Any) -> bool:
    """None, NaN or NaT (which equal nothing, themselves included)."""
    if v is None:
        return True
    try:
        return not bool(v == v)
    except (TypeError, ValueError):
        return False


@dataclass
class CrsResolution:
    """The CRS to transform from, what to call it, and how it was found."""

    src: int | str  # EPSG code or WKT/PROJ text
    detected: str  # "EPSG:4523" or a name
    source: str  # prj | header | prefix | user | guess
    notes: list[str] = field(default_factory=list)
    swapped: bool = False


def _old_datum_refusal(crs: CRS) -> InputRefused:
    return refuse(
        "E_CRS_DATUM_UNSUPPORTED",
        f"数据使用 {crs.datum.name} 基准（{crs.name}）：与 CGCS2000 之间没有公开的转换参数，直接转换会偏移数十至上百米。"
        "请先用官方七参数转换为 CGCS2000；如只需粗略筛查，可选择接受近似转换（accept_datum_approximation，偏差可达约 100 米）",
        f"The data uses the {crs.datum.name} datum ({crs.name}); there is no public transformation to CGCS2000 "
        "and a direct one is off by tens to hundreds of metres. Convert it with the official 7 parameters first, "
        "or, for a rough screening, accept the approximation (accept_datum_approximation, up to ~100 m off)",
        crs=crs.name,
    )


APPROXIMATE_NOTE = "按用户要求近似转换：{name} 只做椭球变换到 CGCS2000（未做基准转换），位置偏差可达约 100 米，结果仅供粗略参考"


def describe_crs(crs: CRS, accept_datum_approximation: bool = False) -> tuple[int | str, str, list[str]]:
    """``(src, detected, notes)`` for a declared CRS; WGS 84 lon/lat is read as CGCS2000 (a null shift).

    西安80 / 北京54 are refused unless the user accepts the approximation: PROJ then changes the
    ellipsoid only (its "ballpark" transformation, no datum shift), and the note says how far off that is."""
    datum = (crs.datum.name if crs.datum else "").lower()
    if any(d in datum for d in _OLD_DATUMS):
        if not accept_datum_approximation:
            raise _old_datum_refusal(crs)
        epsg = crs.to_epsg(min_confidence=70)
        return (epsg or crs.to_wkt()), (f"EPSG:{epsg}" if epsg else crs.name), [
            APPROXIMATE_NOTE.format(name=crs.name)]
    epsg = crs.to_epsg(min_confidence=70)
    if epsg in (4326, 4490) or (crs.is_geographic and epsg is None and "2000" in crs.name):
        notes = ["WGS 84 经纬度按 CGCS2000 (EPSG:4490) 读取：两者差异在厘米级"] if epsg == 4326 else []
        return STORAGE_EPSG, f"EPSG:{epsg or 4490}", notes
    if epsg is not None:
        return epsg, f"EPSG:{epsg}", []
    return crs.to_wkt(), crs.name, []


def _parse_crs(text: Any) -> CRS | None:
    try:
        return CRS.from_user_input(text)
    except Exception:
        return None


_cached_crs = lru_cache(maxsize=256)(_parse_crs)
_CACHED_CRS_TEXT = 4096  # a .prj's WKT fits; what a client posts beyond it is parsed but not kept


def _cacheable(text: Any) -> bool:
    return isinstance(text, str) and len(text) <= _CACHED_CRS_TEXT


def _read_crs(text: Any) -> CRS | None:
    """A declared CRS (None if PROJ cannot read it), parsed once per text: every GeoJSON the API reads
    declares the same one, and parsing and describing it cost 40 µs. Only short texts are kept (a
    request may post megabytes as its ``crs``), and anything but text or a number is refused."""
    if _cacheable(text):
        return _cached_crs(text)
    return _parse_crs(text) if isinstance(text, str | int) else None


@lru_cache(maxsize=256)
def _cached_description(text: str, accept_datum_approximation: bool) -> tuple[int | str, str, tuple[str, ...]]:
    src, detected, notes = describe_crs(_cached_crs(text), accept_datum_approximation)
    return src, detected, tuple(notes)


def _described(text: Any, crs: CRS, accept_datum_approximation: bool) -> tuple[int | str, str, tuple[str, ...]]:
    """``describe_crs`` of ``crs``, read from ``text``: once per short text."""
    if _cacheable(text):
        return _cached_description(text, accept_datum_approximation)
    src, detected, notes = describe_crs(crs, accept_datum_approximation)
    return src, detected, tuple(notes)


def resolve_crs(
    file_crs: str | None, user_crs: str | None, geoms: np.ndarray, name: str, *, file_source: str = "header",
    accept_datum_approximation: bool = False,
) -> CrsResolution:
    """User CRS, else the file's (unless its lon/lat are impossible), else inference from the coordinates."""
    if user_crs:
        crs = _read_crs(user_crs)
        if crs is None:
            shown = str(user_crs)[:200]
            raise refuse("E_CRS_INVALID", f"无法识别坐标系“{shown}”", f"Unknown CRS '{shown}'", crs=shown)
        src, detected, notes = _described(user_crs, crs, accept_datum_approximation)
        return CrsResolution(src, detected, "user", list(notes))
    present = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)] if len(geoms) else geoms
    if len(present) == 0:
        raise refuse("E_LAYER_EMPTY", "文件中没有几何", "The file holds no geometry")
    bounds = extent(present)
    if file_crs:
        crs = _read_crs(file_crs)
        if crs is None:
            raise refuse("E_CRS_INVALID", f"{name} 声明的坐标系无法识别", f"{name} declares a CRS that cannot be read",
                         crs=str(file_crs)[:200])
        impossible = crs.is_geographic and not (-180 <= bounds[0] <= bounds[2] <= 180
                                                and -90 <= bounds[1] <= bounds[3] <= 90)
        if not impossible:
            src, detected, notes = _described(file_crs, crs, accept_datum_approximation)
            return CrsResolution(src, detected, file_source, list(notes))
        note = f"文件声明 {crs.name}，但坐标不是经纬度：忽略声明，按坐标推断"
    else:
        note = None
    guess = infer_crs(*bounds)
    if guess is None:
        raise refuse("E_CRS_UNKNOWN", f"{name} 未声明坐标系且无法推断（无带号的高斯坐标请指定坐标系或带号）",
                     f"{name} declares no CRS and it cannot be inferred (give the CRS or the zone for GK "
                     "coordinates without a zone prefix)", bounds=[float(b) for b in bounds])
    notes = [n for n in (note, guess.note) if n]
    return CrsResolution(guess.epsg, f"EPSG:{guess.epsg}", guess.source, notes, guess.swapped)
