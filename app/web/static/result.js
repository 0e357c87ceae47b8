/* The result page: re-run the record on the current layers and say what a zoning update changes. */
(function () {
  "use strict";
  const ECO = window.ECO, btn = document.getElementById("rerun"), out = document.getElementById("rerun-result");
  if (!btn) return;
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    const r = await fetch("/api/screenings/" + encodeURIComponent(btn.dataset.record) + "/rerun?as_of=current", { method: "POST" });
    const body = await r.json().catch(() => null);
    btn.disabled = false;
    out.hidden = false;
    if (!r.ok) { out.className = "rerun-result error"; ECO.showError(out, body, r.status); return; }
    out.className = "rerun-result";
    out.dataset.same = body.same ? "1" : "0";
    const link = "<a id='rerun-record' href='/screenings/" + encodeURIComponent(body.record.id) + "?lang=" + ECO.lang + "'>" +
      ECO.esc(ECO.t("rerun_record")) + " " + ECO.esc(body.record.id) + "</a>";
    if (body.same) { out.innerHTML = ECO.esc(ECO.t("rerun_same")) + " " + link; return; }
    const v = body.verdict || {};
    const items = [];
    if (v.before !== v.after) items.push(ECO.esc(ECO.t("verdict")) + "：" + ECO.esc(ECO.verdicts[v.before] || v.before) + " → " + ECO.esc(ECO.verdicts[v.after] || v.after));
    const changed = body.layer_versions_changed || {};
    const names = Array.isArray(changed) ? changed : Object.keys(changed);
    if (names.length) items.push(ECO.esc(ECO.t("rerun_versions")) + "：" + names.map(ECO.esc).join("、"));
    const rule = (f) => ECO.esc(f.rule_id || f);
    if ((body.findings_added || []).length) items.push(ECO.esc(ECO.t("rerun_added")) + "：" + body.findings_added.map(rule).join("、"));
    if ((body.findings_removed || []).length) items.push(ECO.esc(ECO.t("rerun_removed")) + "：" + body.findings_removed.map(rule).join("、"));
    out.innerHTML = ECO.esc(ECO.t("rerun_changed")) + "<ul><li>" + items.join("</li><li>") + "</li></ul>" + link;
  });
})();
