/* The result page: re-run the record on the current layers and say what a zoning update changes. */
(function () {
  "use strict";
  const ECO = window.ECO, btn = document.getElementById("rerun"), out = document.getElementById("rerun-result");
  if (!btn) return;
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    out.hidden = false;
    try {
      const r = await fetch("/api/screenings/" + encodeURIComponent(btn.dataset.record) + "/rerun?as_of=current", { method: "POST" });
      const body = await r.json().catch(() => null);
      if (!r.ok || !body) { out.className = "rerun-result error"; ECO.showError(out, body, r.status); return; }
      out.className = "rerun-result";
      out.dataset.same = body.same ? "1" : "0";
      const href = "/screenings/" + encodeURIComponent(body.record.id) + "?lang=" + ECO.lang;
      const link = "<a id='rerun-record' href='" + ECO.esc(href) + "'>" + ECO.esc(ECO.t("rerun_record")) + " " + ECO.esc(body.record.id) + "</a>";
      if (body.same) { out.innerHTML = ECO.esc(ECO.t("rerun_same")) + " " + link; return; }
      const v = body.verdict || {};
      const items = [];
      if (v.before !== v.after) items.push(ECO.esc(ECO.t("verdict")) + "：" + ECO.esc(ECO.verdicts[v.before] || v.before) + " → " + ECO.esc(ECO.verdicts[v.after] || v.after));
      const changed = body.layer_versions_changed || {};
      const names = Array.isArray(changed) ? changed : Object.keys(changed);
      if (names.length) items.push(ECO.esc(ECO.t("rerun_versions")) + "：" + names.map(ECO.esc).join("、"));
      const id = (x) => ECO.esc(x.rule_id || x.feature_id || x);
      const m2 = (v) => Math.round(v).toLocaleString("en-US");
      const area = (x) => id(x) + " " + ECO.esc(m2(x.before_m2) + " → " + m2(x.after_m2) + " m²");
      const dist = (x) => id(x) + " " + ECO.esc(x.before_m.toFixed(3) + " → " + x.after_m.toFixed(3) + " m");
      const attrs = (x) => id(x) + "（" + Object.keys(x.changes || {}).map(ECO.esc).join("、") + "）";
      const decided = (x) => id(x) + " " + ECO.esc(x.before.verdict === x.after.verdict
        ? x.before.status + " → " + x.after.status
        : (ECO.verdicts[x.before.verdict] || x.before.verdict) + " → " + (ECO.verdicts[x.after.verdict] || x.after.verdict));
      const lists = [["findings_added", "rerun_added", id], ["findings_removed", "rerun_removed", id],
        ["findings_changed", "rerun_findings_changed", decided],
        ["overlaps_added", "rerun_overlaps_added", id], ["overlaps_removed", "rerun_overlaps_removed", id],
        ["overlap_areas_changed", "rerun_areas_changed", area], ["overlap_distances_changed", "rerun_distances_changed", dist],
        ["overlap_attributes_changed", "rerun_attributes_changed", attrs]];
      lists.forEach(([key, label, show]) => { if ((body[key] || []).length) items.push(ECO.esc(ECO.t(label)) + "：" + body[key].map(show).join("、")); });
      out.innerHTML = ECO.esc(ECO.t("rerun_changed")) + "<ul><li>" + items.join("</li><li>") + "</li></ul>" + link;
    } catch (e) {
      out.className = "rerun-result error";
      ECO.showError(out, null, 0);
    } finally {
      btn.disabled = false;
    }
  });
})();
