"""The interactive map of a record (folium/Leaflet) with Leaflet served by the app, never a CDN.

folium's defaults load Leaflet, jQuery and Bootstrap from CDNs; the map here needs only Leaflet,
so its script and style lists are replaced by the app's own URLs or, for a report file that must
open anywhere, by the library inlined as data: URLs.
"""

from __future__ import annotations

import base64
from typing import Any

import folium

from app.domain.catalog import Catalog
from app.reports.context import layer_colour
from app.web import vendor_dir


def leaflet_urls(base: str = "/static/vendor/leaflet") -> tuple[str, str]:
    return f"{base}/leaflet.js", f"{base}/leaflet.css"


def leaflet_inline() -> tuple[str, str]:
    d = vendor_dir("leaflet")
    js = base64.b64encode((d / "leaflet.js").read_bytes()).decode()
    css = base64.b64encode((d / "leaflet.css").read_bytes()).decode()
    return f"data:text/javascript;base64,{js}", f"data:text/css;base64,{css}"


def record_map(record: dict[str, Any], catalog: Catalog, *, leaflet: tuple[str, str],
               basemap_url: str | None = None, basemap_attribution: str = "",
               footprint_label: str = "项目边界") -> str:
    """A whole HTML document: the footprint and every clipped overlap piece, styled by the catalog."""
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    m.default_js = [("leaflet", leaflet[0])]
    m.default_css = [("leaflet_css", leaflet[1])]
    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr=basemap_attribution or "basemap", name="basemap").add_to(m)
    by_fid = {o["feature_id"]: o for o in record.get("overlaps", [])}
    pieces = []
    for fid, geom in (record.get("overlap_geometries") or {}).items():
        o = by_fid.get(fid, {})
        spec = catalog.kinds.get(o.get("kind", ""))
        style = {**(spec.style if spec else {}), "fill": layer_colour(catalog, o.get("kind", ""), o.get("attributes"))}
        pieces.append((int(style.get("order", 999)), fid, o, geom, style, spec))
    for _, fid, o, geom, style, spec in sorted(pieces, key=lambda p: -p[0]):
        name = spec.name_zh if spec else o.get("layer", "")
        tip = f"{name}：{o.get('name') or fid}（{o.get('area_m2', 0):,.1f} m²）"
        folium.GeoJson(
            {"type": "Feature", "geometry": geom, "properties": {"feature_id": fid}},
            style_function=lambda _f, s=style: {"fillColor": s.get("fill", "#888"), "color": s.get("outline", "#444"),
                                                "weight": 1, "fillOpacity": float(s.get("opacity", 0.4))},
            tooltip=tip,
        ).add_to(m)
    fp = record.get("footprint_geometry")
    if fp:
        layer = folium.GeoJson(
            {"type": "Feature", "geometry": fp, "properties": {"role": "footprint"}},
            style_function=lambda _f: {"fill": False, "color": "#000", "weight": 3, "dashArray": "6 4"},
            tooltip=footprint_label,
        ).add_to(m)
        m.fit_bounds(layer.get_bounds())
    return m.get_root().render()
