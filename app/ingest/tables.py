"""Corner-point lists in CSV or XLSX: 点号, X, Y (or 经度, 纬度), parts by a 地块 column, rings by 圈号."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely

from app.ingest.encoding import detect_encoding
from app.ingest.vector import refuse

_COLUMNS = {
    "x": ("x", "x坐标", "北坐标", "纵坐标", "n", "northing"),
    "y": ("y", "y坐标", "东坐标", "横坐标", "e", "easting"),
    "lon": ("经度", "lon", "lng", "longitude", "东经"),
    "lat": ("纬度", "lat", "latitude", "北纬"),
    "part": ("地块", "地块编号", "地块号", "地块名称", "parcel", "part", "宗地号"),
    "ring": ("圈号", "ring"),
}


@dataclass
class CornerList:
    geoms: np.ndarray  # one polygon per part, in the file's coordinates (x = easting or lon)
    part_names: list[str]
    lonlat: bool
    encoding: str | None
    notes: list[str]


def _read_frame(path: Path) -> tuple[pd.DataFrame, str | None]:
    if path.suffix.lower() == ".xlsx":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = pyogrio.read_dataframe(path, read_geometry=False)
        except Exception as exc:
            raise refuse("E_TABLE_UNREADABLE", f"无法读取表格：{path.name}", f"Cannot read the table: {path.name}",
                         reason=str(exc)) from None
        return pd.DataFrame(df), None
    raw = path.read_bytes()
    enc = detect_encoding(raw)
    try:
        text = raw.decode(enc)
    except (UnicodeDecodeError, LookupError):
        raise refuse("E_TABLE_ENCODING", "无法识别表格文件的编码", "The table's text encoding cannot be read") from None
    for i, line in enumerate(text.splitlines(), 1):
        if "，" in line:
            raise refuse("E_TABLE_FULLWIDTH_COMMA", f"第 {i} 行使用了中文逗号“，”，请改为英文逗号",
                         f"Line {i} uses a full-width comma '，'; use ASCII commas", line=i)
    try:
        df = pd.read_csv(io.StringIO(text.lstrip("\ufeff")), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise refuse("E_TABLE_UNREADABLE", f"无法读取表格：{path.name}", f"Cannot read the table: {path.name}",
                     reason=str(exc)) from None
    return df, enc


def _column(df: pd.DataFrame, role: str) -> str | None:
    wanted = _COLUMNS[role]
    for col in df.columns:
        if str(col).strip().lower() in wanted:
            return str(col)
    return None


def read_corner_list(path: Path) -> CornerList:
    df, enc = _read_frame(path)
    xcol, ycol = _column(df, "x"), _column(df, "y")
    loncol, latcol = _column(df, "lon"), _column(df, "lat")
    if loncol and latcol:
        cols, lonlat = (loncol, latcol), True
    elif xcol and ycol:
        cols, lonlat = (ycol, xcol), False  # X is the northing in Chinese surveying: x = Y column
    else:
        raise refuse("E_TABLE_COLUMNS", "表格缺少坐标列：需要 X、Y（X 为北坐标）或 经度、纬度",
                     "The table lacks coordinate columns: X, Y (X = northing) or 经度, 纬度 (lon, lat)",
                     columns=[str(c) for c in df.columns])
    coords = np.empty((len(df), 2))
    for j, col in enumerate(cols):
        values = pd.to_numeric(df[col].astype(str).str.strip(), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 2  # 1-based, after the header row
            raise refuse("E_TABLE_BAD_COORDINATE", f"第 {row} 行的坐标“{df[col].iloc[row - 2]}”不是数字",
                         f"Row {row}: coordinate '{df[col].iloc[row - 2]}' is not a number", line=row)
        coords[:, j] = values
    partcol, ringcol = _column(df, "part"), _column(df, "ring")
    parts = df[partcol].astype(str).str.strip().to_numpy() if partcol else np.full(len(df), "1", dtype=object)
    rings = df[ringcol].astype(str).str.strip().to_numpy() if ringcol else np.full(len(df), "1", dtype=object)
    names: list[str] = []
    polys = []
    notes: list[str] = []
    for name in dict.fromkeys(parts):  # file order
        sel = parts == name
        ring_ids = list(dict.fromkeys(rings[sel]))
        shells = []
        for rid in ring_ids:
            pts = coords[sel & (rings == rid)]
            if len(pts) >= 2 and not np.array_equal(pts[0], pts[-1]):
                pts = np.vstack([pts, pts[:1]])
            if len(np.unique(pts, axis=0)) < 3:
                raise refuse("E_TABLE_RING_DEGENERATE", f"地块“{name}”圈 {rid} 的点不足三个",
                             f"Parcel '{name}' ring {rid} has fewer than three distinct points", part=str(name))
            shells.append(pts)
        outer, holes = shells[0], shells[1:]
        poly = shapely.Polygon(outer)
        inner = [h for h in holes if poly.contains(shapely.Polygon(h).representative_point())]
        apart = [h for h in holes if not poly.contains(shapely.Polygon(h).representative_point())]
        if apart:
            notes.append(f"地块“{name}”有 {len(apart)} 个圈位于外圈之外，按独立部分读取")
        geom = shapely.Polygon(outer, inner)
        if apart:
            geom = shapely.MultiPolygon([geom, *[shapely.Polygon(h) for h in apart]])
        polys.append(geom)
        names.append(str(name))
    if not polys:
        raise refuse("E_TABLE_EMPTY", "表格中没有坐标", "The table holds no coordinates")
    return CornerList(np.array(polys, dtype=object), names, lonlat, enc, notes)
