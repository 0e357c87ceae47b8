/* Shared by the pages: wording, the map's base style and layers, cursor coordinates (lon/lat and GK). */
(function () {
  "use strict";
  const ECO = window.ECO;
  ECO.t = (key) => ECO.strings[key] || key;
  ECO.esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  /* Transverse Mercator on the CGCS2000 ellipsoid (Krüger series to n^3: well under a millimetre
     within a 3° zone), for the cursor read-out in the local Gauss–Krüger zone. */
  ECO.gk = function (lon, lat) {
    const a = 6378137, f = 1 / 298.257222101, n = f / (2 - f), e = Math.sqrt(f * (2 - f));
    const A = a / (1 + n) * (1 + n * n / 4 + n ** 4 / 64);
    const al = [n / 2 - 2 * n * n / 3 + 5 * n ** 3 / 16, 13 * n * n / 48 - 3 * n ** 3 / 5, 61 * n ** 3 / 240];
    const zone = Math.round(lon / 3), lon0 = zone * 3;
    const phi = lat * Math.PI / 180, lam = (lon - lon0) * Math.PI / 180;
    const t = Math.sinh(Math.atanh(Math.sin(phi)) - e * Math.atanh(e * Math.sin(phi)));
    const xi = Math.atan2(t, Math.cos(lam)), eta = Math.atanh(Math.sin(lam) / Math.sqrt(1 + t * t));
    let x = xi, y = eta;
    for (let j = 1; j <= 3; j++) {
      x += al[j - 1] * Math.sin(2 * j * xi) * Math.cosh(2 * j * eta);
      y += al[j - 1] * Math.cos(2 * j * xi) * Math.sinh(2 * j * eta);
    }
    return { zone: zone, x: A * x, y: zone * 1e6 + 500000 + A * y };  // y with the zone prefix
  };

  ECO.baseStyle = function () {
    const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#f2f1ec" } }] };
    if (ECO.basemap && ECO.basemap.url) {
      style.sources.basemap = { type: "raster", tiles: [ECO.basemap.url], tileSize: 256, attribution: ECO.basemap.attribution || "" };
      style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    return style;
  };

  function fillColour(style) {
    if (style.by && style.colors) {
      const expr = ["match", ["get", style.by]];
      Object.entries(style.colors).forEach(([k, v]) => expr.push(k, v));
      expr.push(style.fill || "#888");
      return expr;
    }
    return style.fill || "#888";
  }
  ECO.fillColour = fillColour;

  /* Add every layer (vector source from its TileJSON, styled by the catalog); returns {layerId: [mapLayerIds]}. */
  ECO.addLayers = function (map, layers, visible) {
    const ids = {};
    const origin = window.location.origin;
    [...layers].sort((a, b) => (b.style.order || 999) - (a.style.order || 999)).forEach((l) => {
      map.addSource(l.id, { type: "vector", url: origin + "/tiles/" + l.id + "/tilejson.json" });
      const vis = visible(l) ? "visible" : "none";
      const st = l.style, own = [];
      const base = { source: l.id, "source-layer": l.id, layout: { visibility: vis }, metadata: { eco: l.id } };
      if (l.geometry === "polygon" || l.geometry === "any") {
        own.push(Object.assign({}, base, { id: l.id + "-fill", type: "fill", filter: ["==", ["geometry-type"], "Polygon"],
          paint: { "fill-color": fillColour(st), "fill-opacity": st.opacity == null ? 0.4 : st.opacity } }));
        own.push(Object.assign({}, base, { id: l.id + "-outline", type: "line", filter: ["==", ["geometry-type"], "Polygon"],
          paint: { "line-color": st.outline || "#444", "line-width": l.kind === "admin_region" ? 1.6 : 0.8 } }));
      }
      if (l.geometry === "line" || l.geometry === "any") {
        own.push(Object.assign({}, base, { id: l.id + "-line", type: "line", filter: ["==", ["geometry-type"], "LineString"],
          paint: { "line-color": st.outline || st.fill || "#2171b5", "line-width": 2.5 } }));
      }
      if (l.geometry === "point" || l.geometry === "any") {
        own.push(Object.assign({}, base, { id: l.id + "-point", type: "circle", filter: ["==", ["geometry-type"], "Point"],
          paint: { "circle-color": st.fill || "#d7301f", "circle-radius": 5, "circle-stroke-color": st.outline || "#000", "circle-stroke-width": 1 } }));
      }
      own.forEach((spec) => map.addLayer(spec));
      ids[l.id] = own.map((s) => s.id);
    });
    return ids;
  };

  ECO.coordinates = function (map, el) {
    map.on("mousemove", (e) => {
      const { lng, lat } = e.lngLat;
      const g = ECO.gk(lng, lat);
      el.textContent = lng.toFixed(6) + ", " + lat.toFixed(6) + "  |  CGCS2000 3°" + (ECO.lang === "en" ? " zone " : "带 ") + g.zone +
        " X=" + g.x.toFixed(2) + " Y=" + g.y.toFixed(2);
      el.dataset.lon = lng; el.dataset.lat = lat; el.dataset.x = g.x; el.dataset.y = g.y; el.dataset.zone = g.zone;
    });
  };

  ECO.newMap = function (bounds) {
    const map = new maplibregl.Map({ container: "map", style: ECO.baseStyle(), bounds: bounds || [[97, 26], [109, 34]],
      fitBoundsOptions: { padding: 20 }, attributionControl: { compact: true }, maxZoom: 18 });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ maxWidth: 120, unit: "metric" }), "bottom-left");
    map.once("idle", () => document.querySelectorAll(".maplibregl-ctrl-attrib").forEach((el) => {
      el.classList.remove("maplibregl-compact-show"); el.removeAttribute("open");
    }));
    window.ecoMap = map;
    return map;
  };

  ECO.layersBounds = function (layers) {
    const b = layers.map((l) => l.bbox).filter(Boolean);
    if (!b.length) return null;
    return [[Math.min(...b.map((x) => x[0])), Math.min(...b.map((x) => x[1]))], [Math.max(...b.map((x) => x[2])), Math.max(...b.map((x) => x[3]))]];
  };

  ECO.showError = function (el, body, status) {
    const e = (body && body.error) || { code: "E_HTTP_" + status, message_zh: "请求失败（" + status + "）", message_en: "Request failed (" + status + ")" };
    const first = ECO.lang === "en" ? e.message_en : e.message_zh, second = ECO.lang === "en" ? e.message_zh : e.message_en;
    el.innerHTML = "<code>" + ECO.esc(e.code) + "</code> " + ECO.esc(first) + "<br><small>" + ECO.esc(second) + "</small>";
    el.dataset.code = e.code;
    el.hidden = false;
  };
})();
