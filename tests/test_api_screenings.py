"""HTTP screenings and the CLI's ``screen``: a record kept, read back, re-run; refusals; the picker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import shapely

from app.settings import PROJECT_ROOT, Settings
from tests.geodata import gk_box, to_lonlat
from tests.test_cli import ECOREDLINE, cli_env
from tests.test_screening import RULES, build_world

PROJECT = {"name": "示例化工项目", "industry": "C2614", "action": "new", "attributes": {"stack_height_m": 20}}


def geometry(gk) -> dict:
    return json.loads(shapely.to_geojson(to_lonlat(gk)))


def test_screen_json_geometry_read_back_and_rerun(client):
    r = client.post("/api/screenings", json={"geometry": geometry(gk_box(1500, 0, 100)), "project": PROJECT})
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["verdict"] == "prohibited" and rec["verdict_zh"] == "判定不通过"
    assert rec["project"]["industry_name"] == "有机化学原料制造" and rec["input_kind"] == "geometry"
    assert set(rec["layer_versions"]) == {"admin", "rivers", "redline", "water"} and rec["ruleset_version"]
    assert rec["footprint"]["area_m2_gk"] == pytest.approx(10_000, rel=1e-6)
    assert client.get(f"/api/screenings/{rec['id']}").json() == rec
    again = client.post(f"/api/screenings/{rec['id']}/rerun").json()
    assert again["same"] and again["record"]["parameters"]["rerun_of"] == rec["id"]
    cur = client.post(f"/api/screenings/{rec['id']}/rerun", params={"as_of": "current"}).json()
    assert cur["same"]


def test_a_rerun_is_read_within_todays_limits(client, store, tmp_path: Path):
    """A re-run reads the recorded input again, within the operator's limits as they are now: lowered
    since, it is refused, not run at the cost they now forbid."""
    from fastapi.testclient import TestClient

    from app.api.app import create_app

    rec = client.post("/api/screenings", json={"geometry": geometry(gk_box(1500, 0, 100)), "project": PROJECT}).json()
    assert client.post(f"/api/screenings/{rec['id']}/rerun").json()["same"]
    settings = Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers", rules_dir=RULES,
                        boundary_max_vertices=4)
    with TestClient(create_app(settings, store=store)) as tight:
        r = tight.post(f"/api/screenings/{rec['id']}/rerun")
    assert r.status_code == 413 and r.json()["error"]["code"] == "E_TOO_MANY_VERTICES"


def test_screen_multipart_file(client, tmp_path: Path):
    import geopandas as gpd

    path = tmp_path / "b.kml"
    gpd.GeoDataFrame({"name": ["地块"]}, geometry=[to_lonlat(gk_box(-2500, 0, 1000))], crs=4326).to_file(
        path, driver="KML")
    r = client.post("/api/screenings", files={"file": ("地块.kml", path.read_bytes())},
                    data={"project": json.dumps({**PROJECT, "attributes": {"limited_activity": 2,
                                                                           "stack_height_m": 5}})})
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["verdict"] == "restricted" and rec["input_kind"] == "file"
    assert rec["footprint"]["file_name"] == "地块.kml" and len(rec["input_sha256"]) == 64
    again = client.post(f"/api/screenings/{rec['id']}/rerun").json()
    assert again["same"]


@pytest.mark.parametrize("project,code", [
    ({"action": "new"}, "E_PROJECT_INDUSTRY"),
    ({"industry": "C2614", "action": "build"}, "E_PROJECT_ACTION"),
    ({"industry": "Z9999", "action": "new"}, "E_INDUSTRY_UNKNOWN"),
    ({"industry": "C2614", "action": "new", "attributes": [1]}, "E_PROJECT_INVALID"),
    # what a report must lay out: a 5,000-character name took half a minute in the PDF
    ({"industry": "C2614", "action": "new", "name": "项" * 201}, "E_PROJECT_INVALID"),
    ({"industry": "C2614", "action": "new", "name": {"a": 1}}, "E_PROJECT_INVALID"),
    ({"industry": "C2614", "action": "new", "attributes": {"k" * 65: 1}}, "E_PROJECT_INVALID"),
    ({"industry": "C2614", "action": "new", "attributes": {"note": "字" * 501}}, "E_PROJECT_INVALID"),
    ({"industry": "C2614", "action": "new", "attributes": {f"a{i}": i for i in range(101)}}, "E_PROJECT_INVALID"),
])
def test_bad_projects_are_refused_and_nothing_is_kept(client, store, project, code):
    r = client.post("/api/screenings", json={"geometry": geometry(gk_box(0, 0, 100)), "project": project})
    assert r.status_code == 422 and r.json()["error"]["code"] == code
    err = r.json()["error"]
    assert err["message_zh"] and err["message_en"]


def test_a_kept_project_is_read_back_without_the_later_length_limits():
    from app.domain.screening import ProjectSpec

    long = {"industry": "C2614", "action": "new", "name": "项" * 300}
    with pytest.raises(Exception) as ei:
        ProjectSpec.parse(long)
    assert getattr(ei.value, "code", None) == "E_PROJECT_INVALID"
    assert ProjectSpec.parse(long, kept=True).name == "项" * 300


def test_unknown_record(client):
    r = client.get("/api/screenings/S0-nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_SCREENING_NOT_FOUND"
    r = client.post("/api/screenings/S0-nope/rerun")
    assert r.status_code == 404 and r.json()["error"]["code"] == "E_SCREENING_NOT_FOUND"
    r = client.post("/api/screenings/S0-nope/rerun", params={"as_of": "yesterday"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID"


def test_industry_picker(client):
    rows = client.get("/api/industries", params={"q": "C261"}).json()["industries"]
    c2614 = next(r for r in rows if r["code"] == "C2614")
    assert "chemical" in c2614["flags"] and c2614["flag_names"]["chemical"]["zh"] == "化工项目"
    assert rows[0]["code"] == "C261" and {"C2614"} <= {r["code"] for r in rows}
    by_name = client.get("/api/industries", params={"q": "水力发电"}).json()["industries"]
    assert by_name[0]["code"] == "D4413" and by_name[0]["level_zh"] == "小类"
    assert len(client.get("/api/industries").json()["industries"]) == 20  # the 门类


CONDITIONAL_RULE = """ruleset: {id: cond, level: national, jurisdiction: "100000", name_zh: 测试, name_en: test}
rules:
  - id: t.low_stack
    title_zh: 低矮排气筒须论证扩散条件
    title_en: A low stack needs a dispersion study
    applies_to: {industries: [C26], conditions: [{attribute: stack_height_m, op: "<=", value: 15}]}
    verdict: conditional
    message_zh: 低矮排气筒须论证扩散条件
    message_en: A low stack needs a dispersion study
    citation: {document: 测试, clause: 测试, quote: 低矮排气筒须论证, quote_kind: paraphrase}
"""


def test_cli_screen_exit_codes(store_kind, tmp_path: Path):
    import geopandas as gpd

    from tests.conftest import reset_postgis

    url = os.environ.get("ECOREDLINE_TEST_DATABASE_URL") if store_kind == "postgis" else None
    if url:
        reset_postgis(url)
    env = cli_env(tmp_path, url)
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "conditional.yaml").write_text(CONDITIONAL_RULE, encoding="utf-8")  # a low stack: conditional
    env["ECOREDLINE_RULES_DIR"] = str(rules)
    # load the world through the CLI's own store
    from app.domain.catalog import load_catalog
    from app.store import open_store

    st = open_store(Settings(data_dir=tmp_path / "data", database_url=url, layers_dir=PROJECT_ROOT / "layers"))
    build_world(st)
    st.close()
    assert load_catalog(PROJECT_ROOT / "layers")
    cases = [(gk_box(1500, 0, 100), [], 4, "prohibited"),
             (gk_box(-2500, 0, 1000), ["--attr", "limited_activity=3"], 3, "restricted"),
             (gk_box(-500, 0, 100), [], 0, "conditional"),
             (gk_box(-500, 0, 100), ["--attr", "stack_height_m=20"], 0, "allowed")]
    for geom, extra, code, verdict in cases:
        path = tmp_path / "b.geojson"
        gpd.GeoDataFrame(geometry=[to_lonlat(geom)], crs=4326).to_file(path, driver="GeoJSON")
        r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "C2614", "--action", "new",
                            "--attr", "stack_height_m=10", *extra, "--json"], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == code, r.stderr
        rec = json.loads(r.stdout)
        assert rec["store"] == store_kind and rec["verdict"] == verdict
    r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "C2614", "--action", "new"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 5 and "待补充信息" in r.stdout  # stack_height_m not given
    # --report writes the rendering the suffix names, beside the record kept
    for suffix, magic in ((".pdf", b"%PDF-"), (".xlsx", b"PK"), (".html", b"<!doctype html>"), (".geojson", b"{")):
        out = tmp_path / f"report{suffix}"
        r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "C2614", "--action", "new",
                            "--report", str(out), "--lang", "en"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 5 and out.read_bytes().startswith(magic), r.stderr
    assert "Information needed" in (tmp_path / "report.html").read_text(encoding="utf-8")
    fc = json.loads((tmp_path / "report.geojson").read_text(encoding="utf-8"))
    assert fc["features"][0]["properties"]["role"] == "footprint" and fc["ecoredline"]["input_sha256"]
    r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "C2614", "--action", "new",
                        "--report", str(tmp_path / "no" / "such" / "dir.pdf")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "E_REPORT_WRITE" in r.stderr
    r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "C2614", "--action", "new",
                        "--report", str(tmp_path / "report.doc")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "E_REPORT_FORMAT" in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("[地块坐标]\nJ1，1，3270000，35380000\n", encoding="utf-8")
    r = subprocess.run([ECOREDLINE, "screen", str(bad), "--industry", "C2614", "--action", "new"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "E_TXT_FULLWIDTH_COMMA" in r.stderr


@pytest.mark.parametrize("body,code", [
    ('{"geometry": {"type": "Point", "coordinates": [103.7, 29.5]}, "project": {"industry": "C2614", '
     '"action": "new", "attributes": {"x": NaN}}}', "E_REQUEST_INVALID"),
    ('{"geometry": {"type": "FeatureCollection", "features": 5}, "project": {"industry": "C2614", "action": "new"}}',
     "E_GEOMETRY_INVALID"),
    ('{"geometry": {"type": "LineString", "coordinates": [[103.7, 29.5], [103.71, 29.5]]}, "row_width_m": 1e400,'
     ' "project": {"industry": "C2614", "action": "new", "attributes": {"linear": true}}}', "E_REQUEST_INVALID"),
])
def test_non_finite_and_malformed_json_is_refused_and_nothing_is_kept(client, body, code):
    r = client.post("/api/screenings", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text


def test_project_attributes_must_be_finite():
    from app.domain.errors import EcoError
    from app.domain.screening import ProjectSpec

    with pytest.raises(EcoError) as ei:
        ProjectSpec.parse({"industry": "C2614", "action": "new", "attributes": {"stack_height_m": float("inf")}})
    assert ei.value.code == "E_PROJECT_INVALID"
    with pytest.raises(EcoError):
        ProjectSpec.parse({"industry": "C2614", "action": "new", "attributes": {"row_width_m": 0}})


def test_an_option_and_the_project_fact_of_the_same_name_must_agree(client):
    """The record keeps project.attributes.row_width_m: a top-level row_width_m that differs would buffer
    the lines by a width the record does not show. The CLI refuses the same; a form field's text and
    the fact's number that read alike agree."""
    line = json.loads(shapely.to_geojson(to_lonlat(shapely.LineString([(380_000, 3_270_000), (381_000, 3_270_000)]))))
    project = {**PROJECT, "attributes": {"stack_height_m": 20, "linear": True, "row_width_m": 20}}
    r = client.post("/api/screenings", json={"geometry": line, "project": project, "row_width_m": 50})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID"
    assert "row_width_m" in r.json()["error"]["message_en"]
    r = client.post("/api/screenings", json={"geometry": line, "project": project, "row_width_m": 20.0})
    assert r.status_code == 201 and r.json()["footprint"]["row_width_m"] == 20
    r = client.post("/api/screenings", data={"project": json.dumps(project), "row_width_m": "20"},
                    files={"file": ("l.geojson", json.dumps(line).encode())})
    assert r.status_code == 201, r.text


def test_media_types_are_read_whatever_their_case(client):
    body = json.dumps({"geometry": geometry(gk_box(1500, 0, 100)), "project": PROJECT})
    r = client.post("/api/screenings", content=body, headers={"Content-Type": "Application/JSON; charset=UTF-8"})
    assert r.status_code == 201, r.text


def test_a_multipart_type_in_capitals_is_read_too(client):
    import httpx

    gj = json.dumps({"type": "Feature", "properties": {}, "geometry": geometry(gk_box(1500, 0, 100))}).encode()
    req = httpx.Request("POST", "http://x/api/screenings", data={"project": json.dumps(PROJECT)},
                        files={"file": ("b.geojson", gj)})
    body = req.read()
    ctype = req.headers["content-type"].replace("multipart/form-data", "Multipart/Form-Data")
    r = client.post("/api/screenings", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 201, r.text


def test_a_project_sent_as_a_file_part_is_read(client):
    """``curl -F file=@b.geojson -F project=@p.json``: the project arrives as a file part."""
    gj = json.dumps({"type": "Feature", "properties": {}, "geometry": geometry(gk_box(1500, 0, 100))}).encode()
    r = client.post("/api/screenings", files={"file": ("b.geojson", gj),
                                               "project": ("p.json", json.dumps(PROJECT).encode("utf-8"))})
    assert r.status_code == 201, r.text
    assert r.json()["project"]["name"] == PROJECT["name"]
    r = client.post("/api/screenings", files={"file": ("b.geojson", gj), "project": ("p.json", b"\xff\xfe")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_PROJECT_INVALID"
