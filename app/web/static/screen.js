/* The planner's page: upload a boundary, see what was understood, describe the project, screen it. */
(function () {
  "use strict";
  const ECO = window.ECO, en = ECO.lang === "en";
  const $ = (id) => document.getElementById(id);
  const CONTEXT = new Set(["eco_redline", "national_park", "nature_reserve", "water_source", "control_unit", "admin_region"]);
  const map = ECO.newMap(ECO.layersBounds(ECO.layers));
  let file = null, footprint = null;

  map.on("load", () => {
    ECO.addLayers(map, ECO.layers, (l) => CONTEXT.has(l.kind));
    map.addSource("footprint", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "footprint-fill", type: "fill", source: "footprint", paint: { "fill-color": "#000", "fill-opacity": 0.12 } });
    map.addLayer({ id: "footprint-line", type: "line", source: "footprint", paint: { "line-color": "#000", "line-width": 2.5, "line-dasharray": [3, 2] } });
    ECO.coordinates(map, $("coords"));
    if (ECO.layers.some((l) => l.illustrative)) {
      const mark = document.createElement("div"); mark.className = "map-watermark"; mark.textContent = ECO.t("illustrative");
      $("map").appendChild(mark);
    }
    window.ecoReady = true;
  });

  function options(fd) {
    ["crs", "zone", "encoding", "layer"].forEach((k) => { const v = $("opt-" + k).value.trim(); if (v) fd.append(k, v); });
    if ($("opt-gcj02").checked) fd.append("gcj02", "true");
    if ($("opt-datum").checked) fd.append("accept_datum_approximation", "true");
  }

  function fmt(v) { return v == null ? "—" : Number(v).toLocaleString(en ? "en" : "zh-CN", { maximumFractionDigits: 2 }); }

  function showEcho(echo) {
    const src = { header: en ? "declared in the file" : "文件声明", prefix: en ? "zone prefix" : "坐标带号前缀", prj: ".prj",
      user: en ? "given by you" : "用户指定", guess: en ? "inferred from the coordinates" : "按坐标范围推断" };
    const rows = [[en ? "Format" : "格式", echo.format], [ECO.t("crs"), echo.crs_detected + "（" + (src[echo.crs_source] || echo.crs_source) + "）"],
      [ECO.t("parts"), echo.parts], [ECO.t("area_gk"), fmt(echo.area_m2_gk) + " （EPSG:" + echo.gk_epsg + "）"],
      [ECO.t("area_ell"), fmt(echo.area_m2_ellipsoidal)]];
    if (echo.declared_area_m2 != null) rows.push([ECO.t("area_declared"), fmt(echo.declared_area_m2)]);
    if (echo.encoding) rows.push([en ? "Encoding" : "编码", echo.encoding]);
    let html = "<table id='echo-table'>" + rows.map(([k, v]) => "<tr><th>" + ECO.esc(k) + "</th><td data-key='" + ECO.esc(k) + "'>" + ECO.esc(v) + "</td></tr>").join("") + "</table>";
    const parcels = echo.parcels || [];
    if (parcels.length > 1 || parcels.some((p) => p.declared_area_m2 != null)) {
      const head = en ? ["Parcel", "Name", "Computed (m²)", "Declared (m²)", "Difference"] : ["地块", "名称", "计算面积（m²）", "申报面积（m²）", "差异"];
      html += "<table id='parcel-table'><tr>" + head.map((h) => "<th>" + ECO.esc(h) + "</th>").join("") + "</tr>" +
        parcels.map((p) => {
          const diff = p.declared_area_m2 ? ((p.area_m2_gk - p.declared_area_m2) / p.declared_area_m2 * 100).toFixed(2) + "%" : "—";
          return "<tr><td>" + ECO.esc(p.code || p.index) + "</td><td>" + ECO.esc(p.name || "") + "</td><td>" + fmt(p.area_m2_gk) +
            "</td><td>" + fmt(p.declared_area_m2) + "</td><td>" + ECO.esc(diff) + "</td></tr>";
        }).join("") + "</table>";
    }
    const msgs = (echo.repairs || []).concat(echo.warnings || []);
    if (msgs.length) html += "<ul class='warn' id='echo-warnings'>" + msgs.map((w) => "<li><code>" + ECO.esc(w.code) + "</code> " + ECO.esc(en ? (w.message_en || w.message_zh) : w.message_zh) + "</li>").join("") + "</ul>";
    $("echo").innerHTML = html; $("echo").hidden = false;
    $("echo").dataset.crs = echo.crs_detected; $("echo").dataset.crsSource = echo.crs_source; $("echo").dataset.area = echo.area_m2_gk;
  }

  function bounds(geom) {
    const b = [[180, 90], [-180, -90]];
    const walk = (c) => { if (typeof c[0] === "number") { b[0][0] = Math.min(b[0][0], c[0]); b[0][1] = Math.min(b[0][1], c[1]); b[1][0] = Math.max(b[1][0], c[0]); b[1][1] = Math.max(b[1][1], c[1]); } else c.forEach(walk); };
    walk(geom.coordinates);
    return b;
  }

  async function preview() {
    if (!file) return;
    $("error").hidden = true; $("submit").disabled = true; $("echo").hidden = true;
    const fd = new FormData(); fd.append("file", file); options(fd);
    const r = await fetch("/api/footprints/preview", { method: "POST", body: fd });
    const body = await r.json().catch(() => null);
    if (!r.ok) { footprint = null; ECO.showError($("error"), body, r.status); return; }
    footprint = body.geometry;
    showEcho(body.footprint);
    map.getSource("footprint").setData({ type: "Feature", geometry: footprint, properties: {} });
    map.fitBounds(bounds(footprint), { padding: 60, duration: 0, maxZoom: 16 });
    map.once("idle", () => { $("echo").dataset.ready = "1"; });
    updateSubmit();
  }

  function setFile(f) { file = f; $("file-name").textContent = f ? f.name : ""; preview(); }
  $("file").addEventListener("change", () => setFile($("file").files[0] || null));
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((ev) => drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]); });
  document.querySelectorAll("details.options input").forEach((el) => el.addEventListener("change", preview));

  /* industry picker: search GB/T 4754-2017 by code or name; the flags the rules use, in words */
  const flagNames = (i) => i.flags.map((f) => ((i.flag_names || {})[f] || {})[en ? "en" : "zh"] || f);
  let timer = null;
  $("industry-q").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = $("industry-q").value.trim(); const list = $("industry-list");
      if (!q) { list.classList.remove("open"); return; }
      const r = await fetch("/api/industries?limit=30&q=" + encodeURIComponent(q)); const body = await r.json();
      list.innerHTML = "";
      body.industries.forEach((i) => {
        const d = document.createElement("div"); d.setAttribute("role", "option"); d.dataset.code = i.code;
        d.textContent = i.code + " " + i.name + "（" + i.level_zh + "）" + (i.flags.length ? " · " + flagNames(i).join(en ? ", " : "、") : "");
        d.addEventListener("click", () => choose(i)); list.appendChild(d);
      });
      list.classList.toggle("open", body.industries.length > 0);
    }, 150);
  });
  function choose(i) {
    $("industry").value = i.code; $("industry-q").value = i.code + " " + i.name;
    $("industry-chosen").textContent = (en ? "Chosen: " : "已选：") + i.code + " " + i.name + (i.flags.length ? "（" + flagNames(i).join(en ? "; " : "、") + "）" : "");
    $("industry-list").classList.remove("open"); updateSubmit();
  }

  /* the project facts the rules may ask for */
  fetch("/api/project-attributes").then((r) => r.json()).then((body) => {
    const box = $("attributes");
    body.attributes.forEach((a) => {
      const lab = document.createElement("label"); lab.className = "field";
      lab.appendChild(document.createTextNode(en ? a.en : a.zh));
      let input;
      if (a.type === "bool" || a.type === "choice") {
        input = document.createElement("select");
        const opts = [["", en ? "— not given —" : "— 未填写 —"]].concat(a.type === "bool" ? [["true", en ? "yes" : "是"], ["false", en ? "no" : "否"]]
          : a.choices.map((c) => [String(c.value), en ? c.en : c.zh]));
        opts.forEach(([v, t]) => { const o = document.createElement("option"); o.value = v; o.textContent = t; input.appendChild(o); });
      } else { input = document.createElement("input"); input.type = "number"; input.step = "any"; input.min = "0"; }
      input.id = "attr-" + a.name; input.dataset.attr = a.name; input.dataset.type = a.type;
      lab.appendChild(input); box.appendChild(lab);
    });
  });
  function attributes() {
    const out = {};
    document.querySelectorAll("#attributes [data-attr]").forEach((el) => {
      const v = el.value.trim(); if (v === "") return;
      const t = el.dataset.type;
      out[el.dataset.attr] = t === "bool" ? v === "true" : (t === "choice" || t === "int") ? Number(v) : Number(v);
    });
    return out;
  }

  function updateSubmit() { $("submit").disabled = !(footprint && $("industry").value); }

  $("screen-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("error").hidden = true; $("submit").disabled = true;
    const fd = new FormData(); fd.append("file", file); options(fd);
    const attrs = attributes();
    if (attrs.linear) fd.append("linear", "true");
    if (attrs.row_width_m) fd.append("row_width_m", String(attrs.row_width_m));
    fd.append("project", JSON.stringify({ name: $("project-name").value.trim() || null, industry: $("industry").value,
      action: $("action").value, attributes: attrs }));
    const r = await fetch("/api/screenings", { method: "POST", body: fd });
    const body = await r.json().catch(() => null);
    if (r.status !== 201) { ECO.showError($("error"), body, r.status); updateSubmit(); return; }
    window.location.href = "/screenings/" + encodeURIComponent(body.id) + "?lang=" + ECO.lang;
  });
})();
