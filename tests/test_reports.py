"""Reports of a kept record on both stores: report.pdf (text and an embedded CJK font, read back with
poppler), report.html (self-contained, nothing from another origin), report.xlsx, result.geojson,
and the result page; the numbers in each are checked against an independent computation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from io import BytesIO

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pyproj import Transformer
from shapely.geometry import shape

from app.api.app import create_app
from app.screening.rules import load_rulebook
from app.settings import PROJECT_ROOT, Settings
from tests.geodata import GK, gk_box, to_lonlat
from tests.test_screening import RULES, build_world

ARTIFACTS = PROJECT_ROOT / "artifacts"
PROJECT = {"name": "示例化工项目", "industry": "C2614", "action": "new", "attributes": {"stack_height_m": 20}}
POPPLER = shutil.which("pdftotext") and shutil.which("pdffonts")


@pytest.fixture
def record(client) -> dict:
    # half on the redline square [-3000, -2000] × [0, 1000], 1.5 km from the river: prohibited twice over
    site = shapely.union(gk_box(-2500, 0, 1000), gk_box(500, 0, 200))
    r = client.post("/api/screenings", json={"geometry": json.loads(shapely.to_geojson(to_lonlat(site))),
                                             "project": PROJECT})
    assert r.status_code == 201, r.text
    return r.json()


def gk_area(geojson: dict) -> float:
    tr = Transformer.from_crs(4490, GK, always_xy=True)
    return shapely.transform(shape(geojson), lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))).area


def test_pdf_report_has_the_chinese_verdict_and_embeds_a_cjk_font(client, record, store_kind, tmp_path):
    if not POPPLER:
        pytest.fail("poppler-utils (pdftotext, pdffonts) is missing: run the suite through scripts/test.sh")
    r = client.get(f"/api/screenings/{record['id']}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    assert "判定不通过" in flat and "生态环境分区管控符合性筛查报告" in flat
    for must in (record["id"], record["input_sha256"], record["ruleset_version"], record["software_version"],
                 "redline.v1", "自然资发〔2022〕142号", "转述，非官方原文"):
        assert must in flat, must
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line or "WenQuanYi" in line]
    assert cjk and all(" yes " in line for line in cjk), fonts  # embedded, not referenced
    en = client.get(f"/api/screenings/{record['id']}/report.pdf", params={"lang": "en"})
    (tmp_path / "en.pdf").write_bytes(en.content)
    en_text = subprocess.run(["pdftotext", str(tmp_path / "en.pdf"), "-"], capture_output=True, text=True).stdout
    assert "Not permitted" in en_text and "Zoning compliance screening report" in en_text
    if store_kind == "embedded" and shutil.which("pdftoppm"):  # page 1 as a picture for a person to look at
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(pdf, ARTIFACTS / "report-scenario.pdf")
        subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "2", str(pdf),
                        str(ARTIFACTS / "report-scenario-page")], check=True)


def test_html_report_is_self_contained(client, record):
    r = client.get(f"/api/screenings/{record['id']}/report.html")
    assert r.status_code == 200
    html = r.text
    assert "判定不通过" in html and record["id"] in html and record["input_sha256"] in html
    assert record["area_method"].split("；")[0] in html
    # nothing loads from another origin: every src/href is a data: URL or a fragment
    refs = re.findall(r'(?:src|href)=["\']([^"\']+)', html.replace("&#34;", '"').replace("&quot;", '"'))
    assert refs and all(u.startswith(("data:", "#")) for u in refs), [u[:60] for u in refs if not u.startswith("data:")]
    assert "cdn" not in html.lower() and "https://" not in html
    assert 'data-feature="footprint"' in html  # the static map for print
    assert client.get(f"/api/screenings/{record['id']}/report.html", params={"lang": "en"}).text.count(
        "Not permitted") >= 1


def test_a_paraphrase_is_marked_in_every_report_and_a_verbatim_quote_is_not(client):
    # on the redline (a paraphrased notice) and 300 m from the river (a plan line quoted verbatim)
    site = shapely.union(gk_box(-2500, 0, 1000), gk_box(1500, 0, 200))
    r = client.post("/api/screenings", json={"geometry": json.loads(shapely.to_geojson(to_lonlat(site))),
                                             "project": PROJECT})
    assert r.status_code == 201, r.text
    record = r.json()
    kinds = {f["rule_id"]: f["citation"].get("quote_kind", "verbatim") for f in record["findings"]}
    assert "paraphrase" in kinds.values() and "verbatim" in kinds.values(), kinds  # the fixture has both
    for lang, note in (("zh", "转述，非官方原文"), ("en", "paraphrase, not the official wording")):
        html = client.get(f"/api/screenings/{record['id']}/report.html", params={"lang": lang}).text
        for rule_id, kind in kinds.items():
            block = html.split(f'data-rule="{rule_id}"', 1)[1].split('<div class="finding', 1)[0]
            assert (note in block) == (kind == "paraphrase"), (lang, rule_id)
    wb = load_workbook(BytesIO(client.get(f"/api/screenings/{record['id']}/report.xlsx").content))
    rows = list(wb["规则核查结果"].iter_rows(values_only=True))
    col = rows[0].index("quote_note")
    assert {r[1]: bool(r[col]) for r in rows[1:]} == {k: v == "paraphrase" for k, v in kinds.items()}


def test_xlsx_report_sheets_and_footprint_coordinates(client, record):
    r = client.get(f"/api/screenings/{record['id']}/report.xlsx")
    assert r.status_code == 200
    wb = load_workbook(BytesIO(r.content))
    assert wb.sheetnames == ["概要", "规则核查结果", "图层叠加分析", "界址点坐标"]
    summary = {row[0]: row[1] for row in wb["概要"].iter_rows(values_only=True) if row and row[0]}
    assert summary["判定结论"] == "判定不通过" and summary["记录编号"] == record["id"]
    overlaps = list(wb["图层叠加分析"].iter_rows(min_row=2, values_only=True))
    assert len(overlaps) == len(record["overlaps"])
    findings = list(wb["规则核查结果"].iter_rows(min_row=2, values_only=True))
    assert {f[1] for f in findings} == {f["rule_id"] for f in record["findings"]}
    coords = list(wb["界址点坐标"].iter_rows(min_row=2, values_only=True))
    # the GK X (north) / Y (east) columns rebuild the footprint: its area by the shoelace formula
    rings: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for part, ring, _pt, _lon, _lat, x, y in coords:
        rings.setdefault((part, ring), []).append((y, x))
    area = 0.0
    for (_part, ring), pts in rings.items():
        a = shapely.Polygon(pts).area
        area += a if ring == 1 else -a
    assert area == pytest.approx(record["footprint"]["area_m2_gk"], rel=1e-4)


def test_result_geojson_pieces_match_the_recorded_areas(client, record):
    r = client.get(f"/api/screenings/{record['id']}/result.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    roles = [f["properties"]["role"] for f in fc["features"]]
    assert roles[0] == "footprint" and roles.count("footprint") == 1
    assert gk_area(fc["features"][0]["geometry"]) == pytest.approx(record["footprint"]["area_m2_gk"], rel=1e-4)
    pieces = [f for f in fc["features"] if f["properties"]["role"] == "overlap"]
    redline = [p for p in pieces if p["properties"]["layer"] == "redline"]
    assert redline and gk_area(redline[0]["geometry"]) == pytest.approx(500 * 1000, rel=1e-4)
    for p in pieces:
        assert gk_area(p["geometry"]) == pytest.approx(p["properties"]["area_m2"], rel=1e-4)
    assert fc["ecoredline"]["layer_versions"] == record["layer_versions"]


def test_result_page_in_both_languages(client, record):
    page = client.get(f"/screenings/{record['id']}")
    assert page.status_code == 200
    html = page.text
    assert 'data-verdict="prohibited"' in html and "判定不通过" in html and "下载" in html
    for name in ("report.pdf", "report.xlsx", "report.html", "result.geojson"):
        assert f"/api/screenings/{record['id']}/{name}" in html
    assert 'data-level="national"' in html and "自然资发〔2022〕142号" in html
    en = client.get(f"/screenings/{record['id']}", params={"lang": "en"}).text
    assert "Not permitted" in en and "Downloads" in en and 'lang="en"' in en
    m = client.get(f"/screenings/{record['id']}/map.html")
    assert m.status_code == 200 and "/static/vendor/leaflet/leaflet.js" in m.text and "https://" not in m.text


@pytest.mark.parametrize("path", ["/api/screenings/S0-nope/report.pdf", "/api/screenings/S0-nope/report.html",
                                  "/api/screenings/S0-nope/report.xlsx", "/api/screenings/S0-nope/result.geojson",
                                  "/screenings/S0-nope", "/screenings/S0-nope/map.html?lang=xx"])
def test_renderings_of_an_unknown_record_are_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_SCREENING_NOT_FOUND"


def test_names_from_imported_files_cannot_inject_script(client, store, tmp_path):
    """Feature names and provenance come from agency files: pages, maps and reports escape them."""
    from app.domain.models import ImportReport, LayerData, Provenance

    evil = "<img src=x onerror=alert(1)>`${alert(2)}`</script><script>alert(3)</script>"
    data = LayerData("eco_redline", np.array([to_lonlat(gk_box(-3000, 0, 1000))], dtype=object),
                     [{"name": evil}], ImportReport(file_sha256="0" * 64))
    store.publish("redline", data, Provenance(source_document=evil, authority=evil))
    site = json.loads(shapely.to_geojson(to_lonlat(gk_box(-2500, 0, 1000))))
    rec = client.post("/api/screenings", json={"geometry": site, "project": PROJECT}).json()
    for path in (f"/screenings/{rec['id']}/map.html", f"/screenings/{rec['id']}",
                 f"/api/screenings/{rec['id']}/report.html", "/", "/screen"):
        body = client.get(path).text
        assert "<img src=x" not in body and "<script>alert(3)" not in body, path
        if path.endswith("map.html"):  # folium's tooltips are JS template literals
            assert "${alert(2)}" not in body and "`${" not in body


def test_pages_and_vendor_libraries_are_served_locally(client):
    for path in ("/", "/screen", "/?lang=en"):
        r = client.get(path)
        assert r.status_code == 200
        refs = re.findall(r'(?:src|href)=["\']([^"\']+)', r.text)
        assert refs and all(u.startswith("/") and not u.startswith("//") for u in refs), refs
        for u in refs:
            if u.startswith("/static/"):
                assert client.get(u).status_code == 200, u
    assert "Layer viewer" in client.get("/?lang=en").text and "图层浏览" in client.get("/").text
    js = client.get("/static/vendor/maplibre/maplibre-gl.js")
    assert js.status_code == 200 and b"MapLibre GL JS" in js.content[:200]
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200


def test_the_form_can_ask_every_attribute_a_rule_tests(client):
    asked = {a["name"] for a in client.get("/api/project-attributes").json()["attributes"]}
    needed = set()
    for rules_dir in (PROJECT_ROOT / "layers" / "rules", RULES):
        for lr in load_rulebook(rules_dir).rules:
            needed |= {c.attribute for c in lr.rule.applies_to.conditions}
            needed |= {e.when.attribute for e in lr.rule.exceptions}
    assert needed <= asked, needed - asked


def test_every_warning_has_an_english_message(client):
    """The English switch must not fall back to Chinese: the footprint echo's notes are worded in both."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    geometry = json.loads(shapely.to_geojson(to_lonlat(gk_box(0, 0, 100))))
    r = client.post("/api/footprints/preview", json={"geometry": geometry})
    warnings = r.json()["footprint"]["warnings"]
    assert warnings and all(not cjk.search(w["message_en"]) for w in warnings), warnings
    notes = []
    for name in ("swapped_axes.txt", "lonlat.txt", "area_mismatch.txt", "count_wrong.txt", "closing_missing.txt"):
        data = (PROJECT_ROOT / "tests/data/jzd" / name).read_bytes()
        r = client.post("/api/footprints/preview", files={"file": (name, data)})
        assert r.status_code == 200, (name, r.text)
        echo = r.json()["footprint"]
        notes += echo["warnings"] + echo["repairs"]
    def chinese(text: str) -> bool:  # the TXT format's own section names ([属性描述]) are quoted as they are
        return bool(cjk.search(re.sub(r"\[[^\]]*\]", "", text)))

    assert len(notes) >= 5 and not [w for w in notes if chinese(w["message_en"])]


def test_a_configured_basemap_reaches_the_maps_but_never_a_downloaded_report(store, tmp_path):
    build_world(store)
    url = "https://t0.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=SECRETKEY"
    settings = Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers", rules_dir=RULES, basemap_url=url,
                        basemap_attribution="天地图")
    with TestClient(create_app(settings, store=store)) as c:
        assert "SECRETKEY" in c.get("/").text and "SECRETKEY" in c.get("/screen").text
        site = json.loads(shapely.to_geojson(to_lonlat(gk_box(-2500, 0, 1000))))
        rec = c.post("/api/screenings", json={"geometry": site, "project": PROJECT}).json()
        assert "SECRETKEY" in c.get(f"/screenings/{rec['id']}/map.html").text  # the live map may use it
        assert "SECRETKEY" not in c.get(f"/api/screenings/{rec['id']}/report.html").text
