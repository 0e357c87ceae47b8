"""A static map of a record as inline SVG: the footprint and the clipped overlap pieces.

PDFs cannot run a web map, and a printed page should not depend on tiles: this draws the record's
own geometry (no basemap, nothing fetched), with a scale bar and a north arrow, in a local
equirectangular frame that is true to scale at the footprint's latitude.
"""

from __future__ import annotations

import html
import math
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from app.domain.catalog import Catalog
from app.domain.geometry import M_PER_DEG
from app.reports.context import map_pieces


def _path(geom: BaseGeometry, tx) -> str:
    parts: list[str] = []
    polys = getattr(geom, "geoms", [geom])
    for g in polys:
        if g.geom_type == "Polygon":
            for ring in (g.exterior, *g.interiors):
                pts = [tx(x, y) for x, y in ring.coords]
                parts.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in pts) + "Z")
        elif g.geom_type in ("LineString", "LinearRing"):
            pts = [tx(x, y) for x, y in g.coords]
            parts.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in pts))
        elif hasattr(g, "geoms"):
            parts.append(_path(g, tx))
    return "".join(parts)


def _nice(length_m: float) -> float:
    exp = 10 ** math.floor(math.log10(length_m))
    for m in (5, 2, 1):
        if m * exp <= length_m:
            return m * exp
    return exp


def svg_map(record: dict[str, Any], catalog: Catalog, width: int = 680, height: int = 420,
            footprint_label: str = "项目边界", notice: str | None = None) -> str:
    fp_geojson = record.get("footprint_geometry")
    if not fp_geojson:
        return ""
    footprint = shape(fp_geojson)
    pieces = [(p.feature_id, p.kind, shape(p.geometry), p.style) for p in map_pieces(record, catalog)]
    pieces = [p for p in pieces if not p[2].is_empty]  # in drawing order: the redline last, on top

    x0, y0, x1, y1 = shapely.union_all([footprint] + [p[2] for p in pieces]).bounds
    lat0 = (y0 + y1) / 2
    kx = math.cos(math.radians(lat0))
    w_m, h_m = max((x1 - x0) * kx, 1e-9) * M_PER_DEG, max(y1 - y0, 1e-9) * M_PER_DEG
    pad = 24
    scale = min((width - 2 * pad) / w_m, (height - 2 * pad - 20) / h_m)  # px per metre
    ox = pad + ((width - 2 * pad) - w_m * scale) / 2
    oy = pad + ((height - 2 * pad - 20) - h_m * scale) / 2

    def tx(x: float, y: float) -> tuple[float, float]:
        return ox + (x - x0) * kx * M_PER_DEG * scale, oy + (y1 - y) * M_PER_DEG * scale

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="static-map" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(footprint_label)}">',
           f'<rect width="{width}" height="{height}" fill="#f7f7f2" stroke="#999"/>']
    for fid, kind, geom, style in pieces:
        fill, line = style.get("fill", "#888"), style.get("outline", "#444")
        op = float(style.get("opacity", 0.4))
        out.append(f'<path d="{_path(geom, tx)}" fill="{fill}" fill-opacity="{op}" stroke="{line}" '
                   f'stroke-width="0.8" fill-rule="evenodd" data-feature="{html.escape(fid)}" '
                   f'data-kind="{html.escape(kind)}"/>')
    out.append(f'<path d="{_path(footprint, tx)}" fill="none" stroke="#000" stroke-width="2.2" '
               f'stroke-dasharray="6 3" fill-rule="evenodd" data-feature="footprint"/>')
    # scale bar: a round length near a quarter of the width
    bar_m = _nice((width / 4) / scale)
    bar_px = bar_m * scale
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    by = height - 14
    out.append(f'<g class="scale-bar"><rect x="{pad}" y="{by - 6}" width="{bar_px:.1f}" height="5" fill="#000"/>'
               f'<text x="{pad + bar_px + 6:.1f}" y="{by}" font-size="12">{label}</text></g>')
    nx = width - pad - 6
    out.append(f'<g class="north"><path d="M{nx},{pad} l-7,18 l7,-5 l7,5 Z" fill="#000"/>'
               f'<text x="{nx}" y="{pad + 32}" font-size="12" text-anchor="middle">N</text></g>')
    if notice:
        out.append(f'<text x="{width / 2:.0f}" y="16" font-size="13" font-weight="700" fill="#b10026" '
                   f'text-anchor="middle" class="notice">{html.escape(notice)}</text>')
    out.append("</svg>")
    return "".join(out)
