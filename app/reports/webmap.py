"""The interactive map of a record (folium/Leaflet) with Leaflet served by the app, never a CDN.

folium's defaults load Leaflet, jQuery and Bootstrap from CDNs; the map here needs only Leaflet,
so its script and style lists are replaced by the app's own URLs or, for a report file that must
open anywhere, by the library inlined as data: URLs.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import folium

from app.domain.catalog import Catalog
from app.reports.context import map_pieces
from app.web import vendor_dir


def _safe(text: str) -> str:
    """folium writes tooltips into a JS template literal unescaped: feature names come from imported
    files, so HTML, backticks and ``${`` must not survive."""
    return html.escape(text, quote=True).replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def leaflet_urls(base: str = "/static/vendor/leaflet") -> tuple[str, str]:
    return f"{base}/leaflet.js", f"{base}/leaflet.css"


def leaflet_inline() -> tuple[str, str]:
    d = vendor_dir("leaflet")
    js = base64.b64encode((d / "leaflet.js").read_bytes()).decode()
    css = base64.b64encode((d / "leaflet.css").read_bytes()).decode()
    return f"data:text/javascript;base64,{js}", f"data:text/css;base64,{css}"


def record_map(record: dict[str, Any], catalog: Catalog, *, leaflet: tuple[str, str],
               basemap_url: str | None = None, basemap_attribution: str = "",
               footprint_label: str = "项目边界", notice: str | None = None) -> str:
    """A whole HTML document: the footprint and every clipped overlap piece, styled by the catalog;
    ``notice`` (示意数据…) is shown on the map itself when the layers are illustrative."""
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    if notice:
        m.get_root().html.add_child(folium.Element(
            '<div class="map-notice" style="position:absolute;top:8px;left:50%;transform:translateX(-50%);'
            'z-index:1000;background:#fff;color:#b10026;border:2px dashed #b10026;padding:2px 8px;'
            f'font-weight:700;font-family:sans-serif">{html.escape(notice)}</div>'))
    m.default_js = [("leaflet", leaflet[0])]
    m.default_css = [("leaflet_css", leaflet[1])]
    if basemap_url:
        folium.TileLayer(tiles=basemap_url, attr=basemap_attribution or "basemap", name="basemap").add_to(m)
    for p in map_pieces(record, catalog):
        name = p.spec.name_zh if p.spec else p.overlap.get("layer", "")
        tip = _safe(f"{name}：{p.overlap.get('name') or p.feature_id}（{p.overlap.get('area_m2', 0):,.1f} m²）")
        folium.GeoJson(
            {"type": "Feature", "geometry": p.geometry, "properties": {"feature_id": p.feature_id}},
            style_function=lambda _f, s=p.style: {"fillColor": s.get("fill", "#888"),
                                                  "color": s.get("outline", "#444"), "weight": 1,
                                                  "fillOpacity": float(s.get("opacity", 0.4))},
            tooltip=tip,
        ).add_to(m)
    fp = record.get("footprint_geometry")
    if fp:
        layer = folium.GeoJson(
            {"type": "Feature", "geometry": fp, "properties": {"role": "footprint"}},
            style_function=lambda _f: {"fill": False, "color": "#000", "weight": 3, "dashArray": "6 4"},
            tooltip=_safe(footprint_label),
        ).add_to(m)
        m.fit_bounds(layer.get_bounds())
    return m.get_root().render()
