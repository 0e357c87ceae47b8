"""DXF drawings: closed polylines and hatches as polygons, a layer picker, coordinates without a CRS.

Chinese 红线 drawings are usually in CGCS2000 Gauss–Krüger metres with the zone prefix
(``40585366.7, 3433935.5``); GDAL reads no CRS from DXF, so the caller infers it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from app.ingest.vector import refuse

_LOCK = threading.Lock()  # GDAL config options are process-wide


@dataclass
class DxfShapes:
    geoms: np.ndarray  # polygons (closed polylines, hatches) or lines of the picked layer
    layer: str
    layers: dict[str, int]  # layer -> number of closed shapes, for the picker
    encoding: str | None
    notes: list[str]


def _dxf_header(path: Path) -> tuple[str | None, str | None]:
    """$ACADVER and $DWGCODEPAGE from the HEADER section (text DXF)."""
    ver = page = None
    with open(path, "rb") as fh:
        lines = [ln.strip() for ln in fh.read(200_000).split(b"\n")]
    for i, ln in enumerate(lines[:-2]):
        if ln == b"$ACADVER":
            ver = lines[i + 2].decode("ascii", "ignore")
        elif ln == b"$DWGCODEPAGE":
            page = lines[i + 2].decode("ascii", "ignore")
        elif ln == b"ENDSEC":
            break
    return ver, page


def read_dxf(path: Path, layer: str | None = None, *, allow_lines: bool = False) -> DxfShapes:
    ver, page = _dxf_header(path)
    # R2007 (AC1021) and later store text as UTF-8 whatever $DWGCODEPAGE says
    encoding = "UTF-8" if ver and ver >= "AC1021" else ("CP936" if page and page.upper() == "ANSI_936" else None)
    options = {"DXF_CLOSED_LINE_AS_POLYGON": "YES", "DXF_ENCODING": encoding}
    try:
        with _LOCK:
            pyogrio.set_gdal_config_options(options)
            try:
                meta, _fids, wkb, fields = pyogrio.raw.read(path, columns=["Layer"])
            finally:
                pyogrio.set_gdal_config_options({k: None for k in options})
    except Exception as exc:
        raise refuse("E_DXF_UNREADABLE", f"无法读取 DXF 文件：{path.name}", f"Cannot read the DXF file: {path.name}",
                     reason=str(exc)) from None
    geoms = shapely.from_wkb(wkb, on_invalid="ignore") if wkb is not None else np.zeros(0, dtype=object)
    names = np.array([str(v) for v in fields[0]], dtype=object) if fields else np.zeros(0, dtype=object)
    types = shapely.get_type_id(geoms)
    closed = np.isin(types, (3, 6))  # Polygon, MultiPolygon
    lines = np.isin(types, (1, 5))
    counts: dict[str, int] = {}
    for name, c in zip(names, closed):
        counts.setdefault(name, 0)
        counts[name] += int(c)
    if not counts:
        raise refuse("E_DXF_EMPTY", "DXF 文件中没有图形", "The DXF file holds no drawing entities")
    if layer is not None:
        if layer not in counts:
            raise refuse("E_DXF_LAYER_UNKNOWN", f"DXF 中没有图层“{layer}”", f"No layer '{layer}' in the DXF",
                         layers=sorted(counts))
        pick = layer
    else:
        pick = max(sorted(counts), key=lambda n: counts[n])
    in_layer = names == pick
    chosen = geoms[in_layer & closed]
    notes = []
    if layer is None and len(counts) > 1:
        notes.append(f"DXF 有 {len(counts)} 个图层，自动选用闭合图形最多的图层“{pick}”（可用 layer 参数指定）")
    if len(chosen) == 0:
        if allow_lines and (in_layer & lines).any():
            chosen = geoms[in_layer & lines]
        else:
            raise refuse("E_DXF_NO_CLOSED_SHAPES", f"DXF 图层“{pick}”中没有闭合的多段线或填充",
                         f"Layer '{pick}' of the DXF holds no closed polyline or hatch",
                         layers={k: v for k, v in sorted(counts.items())})
    return DxfShapes(chosen, pick, counts, encoding, notes)
