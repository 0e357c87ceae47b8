"""The pages in a real browser: Debian's Chromium driven headless by Playwright, against the app served
by uvicorn on 127.0.0.1 with the demo layers on both stores. Every request that would leave
127.0.0.1 is blocked and counted; the count must be zero. Screenshots go to ``artifacts/``."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
import uvicorn
from pyproj import Transformer

from app.api.app import create_app
from app.demo_loader import ensure_demo
from app.domain.catalog import load_catalog
from app.domain.crs import cgcs2000_gk_epsg
from app.settings import PROJECT_ROOT, Settings
from tests.conftest import make_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


SERVED: dict = {}  # server URL -> its store, for the test that re-publishes a layer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["embedded", "postgis"])
def server(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "postgis":
        request.getfixturevalue("pg_url")
    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    catalog = load_catalog(PROJECT_ROOT / "layers")
    settings = Settings(data_dir=tmp)
    store = make_store(request.param, tmp, catalog, settings)
    ensure_demo(store, settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    SERVED[f"http://127.0.0.1:{port}"] = store
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run the suite through scripts/test.sh")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


class Page:
    """A fresh page whose requests outside 127.0.0.1 are blocked and counted, and whose errors are kept."""

    def __init__(self, browser, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith((self.base, "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def wait_map(self) -> None:
        self.page.wait_for_function("window.ecoReady === true && window.ecoMap && window.ecoMap.loaded()", timeout=30_000)
        self.page.wait_for_function("window.ecoMap.areTilesLoaded()", timeout=30_000)

    def shot(self, name: str, store: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}-{store}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        assert not self.errors, self.errors
        assert self.outside == [], f"requests left 127.0.0.1: {self.outside}"
        self.context.close()


@pytest.fixture
def page(browser, server) -> Iterator[Page]:
    p = Page(browser, server)
    yield p
    p.close()


def store_of(server_url: str, request) -> str:
    return request.node.callspec.params["server"]


def api(page: Page, path: str):
    return page.context.request.get(page.base + path).json()


def rendered(page: Page, layer: str) -> list[dict]:
    return page.page.evaluate(
        "(l) => window.ecoMap.queryRenderedFeatures({layers: [l]}).map(f => ({id: f.id, props: f.properties}))",
        f"{layer}-fill")


def test_viewer_renders_the_layers_from_tiles_and_opens_a_popup(page, server, request):
    page.goto("/")
    page.wait_map()
    feats = api(page, "/api/layers/eco_redline/features?limit=1000")["features"]
    shown = rendered(page, "eco_redline")
    assert shown, "no redline feature rendered"
    names = {f["properties"]["name"] for f in feats}
    assert {f["props"]["name"] for f in shown} <= names and len({f["id"] for f in shown}) == len(feats)
    units = rendered(page, "control_unit")
    assert {f["props"]["category"] for f in units} == {"priority", "key", "general"}
    assert page.page.locator("#map-watermark").inner_text() == "示意数据（非官方边界）"
    page.shot("viewer", store_of(server, request))

    # click inside the first redline feature: the popup names the layer, its attributes and provenance
    target = shapely.geometry.shape(feats[0]["geometry"]).representative_point()
    box = page.page.locator("#map canvas").bounding_box()
    xy = page.page.evaluate("(p) => window.ecoMap.project(p)", [target.x, target.y])
    page.page.mouse.move(box["x"] + xy["x"], box["y"] + xy["y"])
    page.page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    popup = page.page.locator("#popup")
    popup.wait_for()
    text = popup.inner_text()
    assert "生态保护红线" in text and feats[0]["properties"]["name"] in text
    assert "eco_redline.v1" in text and "示意数据（非官方边界）" in text and "来源" in text
    # the popup completes itself with each feature's full attributes (tiles leave long texts out)
    page.page.locator("#popup .feature[data-layer='control_unit'][data-complete='1']").first.wait_for()
    assert "空间布局约束" in popup.inner_text()
    page.shot("viewer-popup", store_of(server, request))

    # the cursor read-out: lon/lat and the local 3° GK zone, checked against PROJ
    coords = page.page.locator("#coords")
    lon, lat = float(coords.get_attribute("data-lon")), float(coords.get_attribute("data-lat"))
    zone = int(coords.get_attribute("data-zone"))
    east, north = Transformer.from_crs(4490, cgcs2000_gk_epsg(zone, prefixed=True), always_xy=True).transform(lon, lat)
    assert float(coords.get_attribute("data-x")) == pytest.approx(north, abs=0.01)
    assert float(coords.get_attribute("data-y")) == pytest.approx(east, abs=0.01)
    assert abs(lon - target.x) < 0.01 and abs(lat - target.y) < 0.01


def test_viewer_toggles_layers_and_jumps_to_a_region(page):
    page.goto("/")
    page.wait_map()
    assert rendered(page, "eco_redline")
    page.page.uncheck("#toggle-eco_redline")
    assert page.page.evaluate("window.ecoMap.getLayoutProperty('eco_redline-fill', 'visibility')") == "none"
    page.page.wait_for_function("window.ecoMap.queryRenderedFeatures({layers: ['eco_redline-fill']}).length === 0")
    page.page.check("#toggle-eco_redline")
    # the part groups are the parts of 三线一单
    legend = page.page.locator(".legend-classes[data-layer='control_unit'] li").all_inner_texts()
    assert legend == ["优先保护单元", "重点管控单元", "一般管控单元"]
    headings = page.page.locator("#layer-toggles h3").all_inner_texts()
    assert headings[:3] == ["生态保护红线", "自然保护地", "生态环境准入清单"]
    before = page.page.evaluate("window.ecoMap.getZoom()")
    options = page.page.locator("#region-jump option").all_inner_texts()
    county = next(o for o in options if "市中区" in o)
    page.page.select_option("#region-jump", label=county)
    page.page.wait_for_function(f"window.ecoMap.getZoom() > {before + 1}")


def test_viewer_in_english(page):
    page.goto("/?lang=en")
    page.wait_map()
    assert page.page.locator("#nav-viewer").inner_text() == "Layer viewer"
    assert "Ecological protection redline" in page.page.locator("#layer-toggles").inner_text()
    assert page.page.locator("#lang-switch").get_attribute("href") == "/?lang=zh"


def sample_txt(page: Page, tmp_path: Path) -> Path:
    r = page.context.request.get(page.base + "/samples/boundary.txt")
    assert r.status == 200
    path = tmp_path / "界址点.txt"
    path.write_bytes(r.body())
    return path


def test_planner_uploads_a_txt_previews_screens_and_reads_the_result(page, server, request, tmp_path):
    page.goto("/screen")
    page.wait_map()
    txt = sample_txt(page, tmp_path)
    page.page.set_input_files("#file", str(txt))
    page.page.locator("#echo-table").wait_for()
    echo = page.page.locator("#echo")
    assert echo.get_attribute("data-crs") == "EPSG:4523" and echo.get_attribute("data-crs-source") == "prefix"
    assert float(echo.get_attribute("data-area")) == pytest.approx(240_000, rel=1e-4)
    parcel = page.page.locator("#parcel-table tr").nth(1).inner_text()
    assert "DK01" in parcel and "240,000" in parcel and "0.00%" in parcel  # computed vs declared 24 ha
    assert page.page.evaluate("window.ecoMap.getSource('footprint')._data.type") == "Feature"
    assert page.page.locator("#submit").is_disabled()  # no industry chosen yet
    page.page.fill("#industry-q", "有机化学")
    page.page.locator("#industry-list div[data-code='C2614']").click()
    assert "两高项目" in page.page.locator("#industry-chosen").inner_text()  # flags in words
    page.page.fill("#project-name", "示例化工项目")
    page.page.fill("#attr-stack_height_m", "20")
    page.page.wait_for_function("document.getElementById('echo').dataset.ready === '1'")
    page.shot("screen-preview", store_of(server, request))
    page.page.click("#submit")
    page.page.wait_for_url("**/screenings/**")
    verdict = page.page.locator("#verdict")
    assert verdict.get_attribute("data-verdict") == "prohibited" and "判定不通过" in verdict.inner_text()
    record_id = page.page.locator("#record-id").inner_text()
    record = api(page, f"/api/screenings/{record_id}")
    assert record["project"]["attributes"] == {"stack_height_m": 20}
    assert record["footprint"]["crs_source"] == "prefix" and record["input_kind"] == "file"
    assert page.page.locator(".level[data-level='national']").count() == 1
    assert "DK01" in page.page.locator("#parcels").inner_text()  # declared vs computed, per parcel
    assert page.page.locator(".finding[data-rule='cn.redline'] .cite").inner_text().count("142号") == 1
    # the folium map in the result page: the footprint and the pieces drawn by Leaflet, served locally
    frame = page.page.frame_locator("#result-map")
    frame.locator("path.leaflet-interactive").first.wait_for()
    assert frame.locator("path.leaflet-interactive").count() >= 2
    page.page.wait_for_timeout(300)
    page.shot("result", store_of(server, request))
    page.page.locator("#result-map").scroll_into_view_if_needed()
    page.shot("result-map", store_of(server, request))
    with page.page.expect_download() as dl:
        page.page.click("#downloads a[data-kind='report.pdf']")
    assert dl.value.suggested_filename == f"{record_id}.pdf"
    # re-run on the current layers: nothing was re-published, so the same result, kept as a new record
    page.page.click("#rerun")
    out = page.page.locator("#rerun-result[data-same]")
    out.wait_for()
    assert out.get_attribute("data-same") == "1" and "结果与当前图层一致" in out.inner_text()
    again = page.page.locator("#rerun-record").get_attribute("href").split("?")[0].rsplit("/", 1)[1]
    assert api(page, f"/api/screenings/{again}")["parameters"]["rerun_of"] == record_id


def test_planner_sees_a_refusal_with_its_code_and_line(page, tmp_path):
    page.goto("/screen")
    page.wait_map()
    bad = tmp_path / "bad.txt"
    bad.write_text("[地块坐标]\n4,1.0,DK01,甲,面,,工业用地,,@\nJ1,1,3382345.123，39567890.456\n", encoding="utf-8")
    page.page.set_input_files("#file", str(bad))
    err = page.page.locator("#error")
    err.wait_for()
    assert err.get_attribute("data-code") == "E_TXT_FULLWIDTH_COMMA"
    assert "第 3 行" in err.inner_text() and "Line 3" in err.inner_text()
    assert page.page.locator("#submit").is_disabled()


def upload_sample(page: Page, tmp_path: Path, industry: str, lang: str = "zh") -> None:
    """On /screen: the sample 界址点 TXT uploaded and previewed, the industry picked."""
    page.goto(f"/screen?lang={lang}")
    page.wait_map()
    page.page.set_input_files("#file", str(sample_txt(page, tmp_path)))
    page.page.locator("#echo-table").wait_for()
    page.page.fill("#industry-q", industry)
    page.page.locator(f"#industry-list div[data-code='{industry}']").click()


def test_result_page_in_english(page, tmp_path):
    upload_sample(page, tmp_path, "N7712", lang="en")
    page.page.select_option("#attr-limited_activity", "2")
    page.page.click("#submit")
    page.page.wait_for_url("**/screenings/**lang=en")
    verdict = page.page.locator("#verdict")
    assert verdict.get_attribute("data-verdict") == "restricted" and "Restricted" in verdict.inner_text()
    assert "Still owed" in page.page.locator(".finding[data-rule='cn.redline']").inner_text()
    assert json.loads(page.page.evaluate("JSON.stringify(window.ECO.lang)")) == "en"


def test_zz_rerun_shows_what_a_republished_layer_changes(page, server, tmp_path):
    """Last in the module: it re-publishes the redline layer (and puts it back)."""
    from app.domain.models import ImportReport, LayerData, Provenance

    upload_sample(page, tmp_path, "N7712")
    page.page.click("#submit")
    page.page.wait_for_url("**/screenings/**")
    assert page.page.locator("#verdict").get_attribute("data-verdict") == "prohibited"
    store = SERVED[server]
    old = store.features("eco_redline", limit=10_000).features
    far = shapely.box(80.0, 40.0, 80.01, 40.01)  # the redline moved far away: no overlap any more
    store.publish("eco_redline", LayerData("eco_redline", np.array([far], dtype=object), [{"name": "远处红线（示意）"}],
                                           ImportReport(file_sha256="9" * 64)),
                  Provenance(source_document="示意数据（非官方边界）", label="测试调整版"))
    try:
        page.page.click("#rerun")
        out = page.page.locator("#rerun-result[data-same]")
        out.wait_for()
        text = out.inner_text()
        assert out.get_attribute("data-same") == "0" and "判定不通过 →" in text and "eco_redline" in text
        assert "cn.redline" in text  # the redline finding is gone
        # the redlines back, 50 m east and with their codes: the same features, their overlaps changed
        moved = [shapely.affinity.translate(f.geometry, 0.0005, 0.0) for f in old]
        store.publish("eco_redline", LayerData("eco_redline", np.array(moved, dtype=object),
                                               [f.attributes for f in old], ImportReport(file_sha256="7" * 64)),
                      Provenance(source_document="示意数据（非官方边界）", label="测试平移版"))
        page.page.click("#rerun")
        page.page.wait_for_function("document.querySelector('#rerun-result').innerText.includes('m²')")
        text = page.page.locator("#rerun-result").inner_text()
        assert "重叠面积变化" in text and " → " in text and "cn.redline" not in text, text
    finally:
        store.publish("eco_redline", LayerData("eco_redline", np.array([f.geometry for f in old], dtype=object),
                                               [f.attributes for f in old], ImportReport(file_sha256="8" * 64)),
                      Provenance(source_document="示意数据（非官方边界）", label="示意数据 v1"))
