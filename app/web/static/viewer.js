/* The layer viewer: every layer from its vector tiles, toggles grouped by 三线一单 part, popups with provenance. */
(function () {
  "use strict";
  const ECO = window.ECO, layers = ECO.layers, byId = {};
  layers.forEach((l) => { byId[l.id] = l; });
  const DEFAULT_PARTS = new Set(["redline", "protected", "access", "context"]);
  const visibleAtStart = (l) => DEFAULT_PARTS.has(l.part) && l.kind !== "sensitive_receptor";
  const map = ECO.newMap(ECO.layersBounds(layers));
  let mapLayers = {};

  if (layers.some((l) => l.illustrative)) {
    document.getElementById("demo-badge").hidden = false;
    const mark = document.createElement("div");
    mark.className = "map-watermark"; mark.id = "map-watermark"; mark.textContent = ECO.t("illustrative");
    document.getElementById("map").appendChild(mark);
  }

  function swatch(l) {
    const s = document.createElement("span");
    s.className = "swatch";
    const colours = (l.classes && l.classes.length) ? l.classes.map((c) => c[1]) : [l.style.fill];
    s.style.background = colours.length > 1 ? "linear-gradient(90deg," + colours.join(",") + ")" : colours[0];
    if (l.geometry === "line") { s.style.height = "4px"; s.style.background = l.style.outline || l.style.fill; }
    s.style.borderColor = l.style.outline || "#555";
    return s;
  }

  function buildToggles() {
    const box = document.getElementById("layer-toggles");
    const parts = [];
    layers.forEach((l) => { if (!parts.includes(l.part)) parts.push(l.part); });
    parts.forEach((part) => {
      const h = document.createElement("h3"); h.textContent = ECO.parts[part] || part; box.appendChild(h);
      layers.filter((l) => l.part === part).forEach((l) => {
        const lab = document.createElement("label"); lab.className = "toggle"; lab.dataset.layer = l.id;
        const cb = document.createElement("input"); cb.type = "checkbox"; cb.id = "toggle-" + l.id; cb.checked = visibleAtStart(l);
        cb.addEventListener("change", () => (mapLayers[l.id] || []).forEach((id) => map.setLayoutProperty(id, "visibility", cb.checked ? "visible" : "none")));
        lab.append(cb, swatch(l), document.createTextNode(l.name));
        if (l.illustrative) { const t = document.createElement("span"); t.className = "demo-tag"; t.textContent = ECO.lang === "en" ? "illustrative" : "示意"; lab.appendChild(t); }
        lab.title = l.version + " · " + l.features;
        box.appendChild(lab);
        if (l.classes && l.classes.length) {  // a legend for the classes (the three unit categories …)
          const ul = document.createElement("ul"); ul.className = "legend-classes"; ul.dataset.layer = l.id;
          l.classes.forEach(([, colour, label]) => {
            const li = document.createElement("li"); const sw = document.createElement("span");
            sw.className = "swatch"; sw.style.background = colour;
            li.append(sw, document.createTextNode(label));
            ul.appendChild(li);
          });
          box.appendChild(ul);
        }
      });
    });
  }

  function rowsHtml(l, props) {
    return Object.entries(props).filter(([k]) => k !== "demo" && k !== "note")
      .map(([k, v]) => "<tr><th>" + ECO.esc(l.labels[k] || k) + "</th><td>" + ECO.esc(((l.value_labels || {})[k] || {})[v] || v) + "</td></tr>").join("");
  }

  /* tiles leave long texts out (a unit's access list): fetch each shown feature's full attributes */
  function completePopup(popup) {
    const root = popup.getElement();
    if (!root) return;
    root.querySelectorAll(".feature[data-fid]").forEach((el) => {
      const l = byId[el.dataset.layer];
      fetch("/api/layers/" + encodeURIComponent(l.id) + "/features/" + encodeURIComponent(el.dataset.fid) +
        "?geometry=false&version=" + encodeURIComponent(l.version))
        .then((r) => (r.ok ? r.json() : null)).then((f) => {
          if (!f) return;
          el.querySelector("table").innerHTML = rowsHtml(l, f.properties);
          el.dataset.complete = "1";
        }).catch(() => { el.dataset.complete = "0"; });  // the tile's attributes stay shown
    });
  }

  function popupHtml(features) {
    const seen = new Set(), parts = [];
    features.forEach((f) => {
      const l = byId[f.source]; const key = f.source + ":" + f.id;
      if (!l || seen.has(key) || parts.length >= 6) return;
      seen.add(key);
      const p = l.provenance;
      const rows = rowsHtml(l, f.properties);
      const prov = [[ECO.lang === "en" ? "Version" : "版本", l.version + "." + f.id], [ECO.lang === "en" ? "Source" : "来源", p.source_document],
        [ECO.lang === "en" ? "Document no." : "文号", p.doc_number], [ECO.lang === "en" ? "Authority" : "发布机关", p.authority],
        [ECO.lang === "en" ? "Effective" : "生效日期", p.effective_date]].filter(([, v]) => v)
        .map(([k, v]) => ECO.esc(k) + "：" + ECO.esc(v)).join("<br>");
      parts.push("<div class='feature' data-layer='" + ECO.esc(l.id) + "' data-fid='" + ECO.esc(f.id) + "'><h4>" + ECO.esc(l.name) +
        (l.illustrative ? "<span class='demo-tag'>" + ECO.esc(ECO.t("illustrative")) + "</span>" : "") + "</h4><table>" + rows +
        "</table><div class='prov'>" + prov + "</div></div>");
    });
    return parts.length ? "<div class='popup' id='popup'>" + parts.join("") + "</div>" : null;
  }

  map.on("load", () => {
    mapLayers = ECO.addLayers(map, layers, visibleAtStart);
    buildToggles();
    ECO.coordinates(map, document.getElementById("coords"));
    const clickable = () => Object.values(mapLayers).flat().filter((id) => map.getLayoutProperty(id, "visibility") !== "none");
    map.on("click", (e) => {
      const feats = map.queryRenderedFeatures(e.point, { layers: clickable() })
        .sort((a, b) => (byId[a.source].style.order || 999) - (byId[b.source].style.order || 999));
      const html = popupHtml(feats);
      if (html) completePopup(new maplibregl.Popup({ maxWidth: "360px" }).setLngLat(e.lngLat).setHTML(html).addTo(map));
    });
    map.once("idle", () => { window.ecoReady = true; });
  });

  if (byId.admin_region) {
    fetch("/api/layers/admin_region/features?limit=1000&geometry=false").then((r) => r.json()).then((fc) => {
      const sel = document.getElementById("region-jump");
      fc.features.forEach((f, i) => {
        const o = document.createElement("option"); o.value = String(i);
        o.textContent = (f.properties.name || "") + (f.properties.code ? " (" + f.properties.code + ")" : "");
        sel.appendChild(o);
      });
      sel.addEventListener("change", () => {
        const f = fc.features[Number(sel.value)]; if (!f || !f.bbox) return;
        map.fitBounds([[f.bbox[0], f.bbox[1]], [f.bbox[2], f.bbox[3]]], { padding: 20, duration: 0 });
      });
    });
  }
})();
