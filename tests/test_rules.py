"""The shipped rule sets: schema, citations checked against the plans, and the demo scenarios they decide."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.domain.catalog import load_catalog
from app.screening.rules import RuleFileError, load_rule_file, load_rulebook
from app.settings import PROJECT_ROOT, Settings

RULES = PROJECT_ROOT / "layers" / "rules"
SEEDS = PROJECT_ROOT.parent / "shared" / "seeds"


def test_shipped_rules_load_and_cover_every_level(catalog):
    book = load_rulebook(RULES, set(catalog.kinds))
    levels = {r.ruleset.level for r in book.rules}
    assert levels == {"national", "province", "prefecture", "county"}
    assert {r.ruleset.jurisdiction for r in book.rules} >= {"100000", "510000", "513200", "513300", "511102"}
    assert len(book.rules) >= 40
    for r in book.rules:
        c = r.rule.citation
        assert c.document and c.clause and len(c.quote) >= 4
        if c.quote_kind == "paraphrase":
            assert c.seed is None  # a paraphrase never pretends to quote a plan line


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed plans are not beside the checkout")
def test_every_quote_is_verbatim_on_its_seed_line():
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "check_rule_quotes.py"), "--seeds", str(SEEDS)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    quoted, verified = map(int, re.search(r"(\d+) quote a seed line \((\d+) verified\)", r.stdout).groups())
    assert "all citations OK" in r.stdout and quoted == verified > 0, r.stdout


def _check_quotes(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "check_rule_quotes.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_every_statute_quote_is_verbatim_on_its_source_line(tmp_path: Path):
    # the statute texts ship in layers/sources/, so this runs with or without the seed plans
    r = _check_quotes("--seeds", str(tmp_path / "no-seeds"))
    assert r.returncode == 0, r.stdout + r.stderr
    quoted, verified = map(int, re.search(r"(\d+) quote a statute line \((\d+) verified\)", r.stdout).groups())
    assert quoted == verified >= 15, r.stdout


def test_the_checker_catches_a_statute_line_that_does_not_say_it(tmp_path: Path):
    sources = tmp_path / "sources"
    shutil.copytree(PROJECT_ROOT / "layers" / "sources", sources)
    law = sources / "water_pollution_law.txt"
    law.write_text(law.read_text(encoding="utf-8").replace("禁止在饮用水水源一级保护区内新建、改建、扩建",
                                                           "禁止在饮用水水源一级保护区内新建、扩建", 1), encoding="utf-8")
    r = _check_quotes("--seeds", str(tmp_path / "no-seeds"), "--sources", str(sources))
    assert r.returncode == 1 and "cn.water_source_1:" in r.stdout, r.stdout


FARMLAND_QUOTE = ("      quote: 永久基本农田经依法划定后，任何单位和个人不得擅自占用或者改变其用途。国家能源、交通、水利、军事设施等重点"
                  "建设项目选址确实难以避让永久基本农田，涉及农用地转用或者土地征收的，必须经国务院批准\n")


@pytest.mark.parametrize("edits, problem", [
    ([("      clause: 第六十五条\n", "      clause: 第六十六条\n")], "does not name the article"),
    ([("      clause: 第三十二条第一款（实验区）\n", "      clause: 第三十二条第二款（实验区）\n")], "another paragraph"),
    ([("      clause: 第二十六条第（一）项\n", "      clause: 第二十六条第（二）项\n")], "another item"),
    ([(FARMLAND_QUOTE, "      quote: 中华人民共和国土地管理法（1986年6月25日通过\n"),
      ("      source: land_administration_law.txt\n      line: 9\n",
       "      source: land_administration_law.txt\n      line: 1\n")], "header"),
])
def test_the_checker_catches_a_clause_that_is_not_the_quoted_lines(tmp_path: Path, edits: list, problem: str):
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (RULES / "national.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    (rules / "national.yaml").write_text(text, encoding="utf-8")
    r = _check_quotes("--seeds", str(tmp_path / "no-seeds"), "--rules", str(rules))
    assert r.returncode == 1 and problem in r.stdout, r.stdout


@pytest.mark.parametrize("citation, problem", [
    ("{document: d, clause: c, quote: qqqq, seed: a.txt, source: b.txt, line: 3}", "not both"),
    ("{document: d, clause: c, quote: qqqq, source: b.txt}", "line goes with"),
    ("{document: d, clause: c, quote: qqqq, quote_kind: paraphrase, source: b.txt, line: 3}", "paraphrase"),
])
def test_a_citation_names_one_checkable_place_or_none(tmp_path: Path, catalog, citation: str, problem: str):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER.replace("{document: d, clause: c, quote: qqqq}", citation), encoding="utf-8")
    with pytest.raises(RuleFileError, match=problem):
        load_rule_file(path, set(catalog.kinds))


def test_the_checker_catches_a_wrong_quote(tmp_path: Path):
    bad = tmp_path / "rules"
    bad.mkdir()
    text = (RULES / "sichuan.yaml").read_text(encoding="utf-8")
    (bad / "sichuan.yaml").write_text(text.replace("禁止在长江干支流岸线一公里范围内", "禁止在长江干支流岸线两公里范围内", 1),
                                      encoding="utf-8")
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "check_rule_quotes.py"), "--seeds", str(SEEDS),
                        "--rules", str(bad)], capture_output=True, text=True, timeout=120)
    if not SEEDS.is_dir():
        pytest.skip("the seed plans are not beside the checkout")
    assert r.returncode == 1, r.stdout


BAD_RULES = {
    "no citation": "  - id: x.a\n    title_zh: a\n    title_en: a\n    verdict: prohibited\n    message_zh: a\n"
                   "    message_en: a\n",
    "unknown kind": "  - id: x.b\n    title_zh: b\n    title_en: b\n    trigger: {kind: redlines}\n    verdict: prohibited\n"
                    "    message_zh: b\n    message_en: b\n    citation: {document: d, clause: c, quote: qqqq}\n",
    "within without distance": "  - id: x.c\n    title_zh: c\n    title_en: c\n    trigger: {kind: eco_redline, "
                               "relation: within}\n    verdict: prohibited\n    message_zh: c\n    message_en: c\n"
                               "    citation: {document: d, clause: c, quote: qqqq}\n",
    "bad verdict": "  - id: x.d\n    title_zh: d\n    title_en: d\n    verdict: forbidden\n    message_zh: d\n"
                   "    message_en: d\n    citation: {document: d, clause: c, quote: qqqq}\n",
    "short quote": "  - id: x.e\n    title_zh: e\n    title_en: e\n    verdict: allowed\n    message_zh: e\n"
                   "    message_en: e\n    citation:\n      document: d\n      clause: c\n      quote: q\n",
    "bad exception op": "  - id: x.g\n    title_zh: g\n    title_en: g\n    verdict: prohibited\n    exceptions:\n"
                        "      - when: {attribute: a, op: '==', value: 1}\n        verdict: restricted\n"
                        "        evidence_zh: e\n        evidence_en: e\n"
                        "      - when:\n          attribute: b\n          op: '~'\n          value: 2\n"
                        "        verdict: restricted\n        evidence_zh: e\n        evidence_en: e\n"
                        "    message_zh: g\n    message_en: g\n    citation: {document: d, clause: c, quote: qqqq}\n",
    "verdict after exceptions": "  - id: x.h\n    title_zh: h\n    title_en: h\n    exceptions:\n"
                                "      - when: {attribute: a, op: '==', value: 1}\n        verdict: restricted\n"
                                "        evidence_zh: e\n        evidence_en: e\n    verdict: forbidden\n"
                                "    message_zh: h\n    message_en: h\n    citation: {document: d, clause: c, quote: qqqq}\n",
    "key given twice": "  - id: x.i\n    title_zh: i\n    title_en: i\n    verdict: allowed\n    message_zh: i\n"
                       "    message_en: i\n    verdict: forbidden\n    citation: {document: d, clause: c, quote: qqqq}\n",
    "duplicate id": "  - id: x.ok\n    title_zh: f\n    title_en: f\n    verdict: allowed\n    message_zh: f\n"
                    "    message_en: f\n    citation: {document: d, clause: c, quote: qqqq}\n",
}
# the line each case is refused at: the second rule starts on line 10; its trigger or verdict is on 13
BAD_LINE = {"no citation": 10, "unknown kind": 13, "within without distance": 13, "bad verdict": 13,
            "short quote": 19, "duplicate id": 10, "bad exception op": 21, "verdict after exceptions": 18,
            "key given twice": 16}
HEADER = ("ruleset: {id: x, level: province, jurisdiction: '510000', name_zh: x, name_en: x}\nrules:\n"
          "  - id: x.ok\n    title_zh: ok\n    title_en: ok\n    verdict: allowed\n    message_zh: ok\n    message_en: ok\n"
          "    citation: {document: d, clause: c, quote: qqqq}\n")


@pytest.mark.parametrize("case", sorted(BAD_RULES))
def test_a_bad_rule_file_is_refused_with_file_and_line(tmp_path: Path, catalog, case: str):
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + BAD_RULES[case], encoding="utf-8")
    with pytest.raises(RuleFileError) as ei:
        load_rulebook(tmp_path, set(catalog.kinds))
    assert f"{path}:{BAD_LINE[case]}:" in str(ei.value), str(ei.value)


def test_a_bad_header_is_refused_at_its_line(tmp_path: Path, catalog):
    path = tmp_path / "bad.yaml"
    path.write_text("# a comment\nruleset:\n  id: x\n  level: province\n  jurisdiction: '5100'\n  name_zh: x\n"
                    "  name_en: x\nrules: []\n", encoding="utf-8")
    with pytest.raises(RuleFileError) as ei:
        load_rule_file(path, set(catalog.kinds))
    assert f"{path}:5: ruleset.jurisdiction" in str(ei.value), str(ei.value)


def test_the_service_refuses_to_start_with_a_bad_rule_file(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(HEADER + BAD_RULES["unknown kind"], encoding="utf-8")
    from app.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "s.gpkg", load_catalog(PROJECT_ROOT / "layers"))
    app = create_app(Settings(data_dir=tmp_path, rules_dir=tmp_path), store=store)
    with pytest.raises(RuleFileError, match=r"bad\.yaml:13: rule x\.b: unknown layer kind 'redlines'"), TestClient(app):
        pass
    store.close()


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    from app.demo_loader import ensure_demo
    from app.store.embedded import EmbeddedStore

    tmp = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=tmp)
    store = EmbeddedStore(tmp / "ecoredline.gpkg", load_catalog(PROJECT_ROOT / "layers"), settings)
    ensure_demo(store, settings)
    with TestClient(create_app(settings, store=store)) as c:
        yield c
    store.close()


def layer_feature(client, layer: str, **match) -> dict:
    feats = client.get(f"/api/layers/{layer}/features", params={"limit": 1000}).json()["features"]
    return next(f for f in feats if all(f["properties"].get(k) == v for k, v in match.items()))


def inside(feature: dict, size: float = 0.002) -> dict:
    p = shapely.geometry.shape(feature["geometry"]).representative_point()
    return json.loads(shapely.to_geojson(shapely.box(p.x - size / 2, p.y - size / 2, p.x + size / 2, p.y + size / 2)))


def screen(client, geometry: dict, industry: str, **attrs) -> dict:
    r = client.post("/api/screenings", json={"geometry": geometry, "project": {
        "name": "测试", "industry": industry, "action": "new", "attributes": attrs}})
    assert r.status_code == 201, r.text
    return r.json()


def test_demo_chemical_plant_beside_the_minjiang_is_prohibited_by_every_level_that_says_so(demo_client):
    river = layer_feature(demo_client, "river_shoreline", name="岷江（示意）")
    line = shapely.geometry.shape(river["geometry"])
    p = line.interpolate(0.5, normalized=True)
    site = json.loads(shapely.to_geojson(shapely.box(p.x + 0.004, p.y - 0.001, p.x + 0.006, p.y + 0.001)))
    rec = screen(demo_client, site, "C2614", stack_height_m=20, voc_emission=False, high_voc=False,
                 air_emission=True, water_withdrawal_m3_per_day=0)
    fired = {f["rule_id"]: f for f in rec["findings"] if f["status"] == "fired"}
    assert rec["verdict"] == "prohibited"
    assert "sc.chem_shoreline_1km" in fired and fired["sc.chem_shoreline_1km"]["level"] == "province"
    cite = fired["sc.chem_shoreline_1km"]["citation"]
    assert cite["seed"] == "001_2329bdaf92fb105c.txt" and "一公里" in cite["quote"]
    assert any(f["level"] == "county" for f in fired.values())  # 市中区's own 1 km rule as well
    assert any(f["status"] == "access_list" for f in rec["findings"])  # the control unit's list to check


def test_demo_redline_and_the_142_path(demo_client):
    redline = layer_feature(demo_client, "eco_redline")
    site = inside(redline)
    rec = screen(demo_client, site, "N7712")
    assert rec["verdict"] == "prohibited"
    f = next(f for f in rec["findings"] if f["status"] == "fired" and f["layer"] == "eco_redline")
    assert f["level"] == "national" and f["citation"]["number"] == "自然资发〔2022〕142号"
    limited = screen(demo_client, site, "N7712", limited_activity=2)
    g = next(f for f in limited["findings"] if f["rule_id"] == f["rule_id"] and f["layer"] == "eco_redline"
             and f["status"] == "fired")
    assert limited["verdict"] in ("restricted", "prohibited") and g["verdict"] == "restricted" and g["evidence_zh"]


def test_demo_core_scenic_zone_asks_whether_the_project_puts_up_an_unrelated_building(demo_client):
    core = layer_feature(demo_client, "scenic_area", zone="核心景区")
    site = inside(core, 0.0005)
    unknown = screen(demo_client, site, "H6110")  # a hotel, not saying what it builds
    f = next(f for f in unknown["findings"] if f["rule_id"] == "cn.scenic_area_core")
    assert f["status"] == "missing_attribute" and f["missing"] == ["scenic_unrelated_building"]
    assert unknown["verdict"] == "restricted"  # cn.scenic_area outranks a missing fact
    hotel = screen(demo_client, site, "H6110", scenic_unrelated_building=True)
    g = next(f for f in hotel["findings"] if f["rule_id"] == "cn.scenic_area_core")
    assert g["status"] == "fired" and hotel["verdict"] == "prohibited"
    assert g["citation"]["source"] == "scenic_areas_regulation.txt" and g["citation"]["clause"] == "第二十七条"
    path = screen(demo_client, site, "E4819", scenic_unrelated_building=False)  # a footpath
    assert "cn.scenic_area_core" not in {f["rule_id"] for f in path["findings"]}
    assert {f["rule_id"]: f["verdict"] for f in path["findings"] if f["status"] == "fired"}.get(
        "cn.scenic_area") == "restricted"


def test_an_access_list_quote_is_marked_as_the_layers_own_text_in_the_report(demo_client):
    unit = layer_feature(demo_client, "control_unit")
    rec = screen(demo_client, inside(unit, 0.0005), "N7712")
    listed = [f["rule_id"] for f in rec["findings"] if f["status"] == "access_list"]
    assert listed, rec["findings"]
    html = demo_client.get(f"/api/screenings/{rec['id']}/report.html").text
    for rule_id in listed:
        block = html.split(f'data-rule="{rule_id}"', 1)[1].split('<div class="finding', 1)[0]
        assert "摘自管控单元图层属性" in block and "转述" not in block


def test_every_fact_a_rule_asks_for_is_on_the_planners_form(catalog):
    from app.screening.attributes import load_project_attributes

    book = load_rulebook(RULES, set(catalog.kinds))
    asked = {c.attribute for r in book.rules for c in r.rule.applies_to.conditions}
    asked |= {e.when.attribute for r in book.rules for e in r.rule.exceptions}
    listed = {a.name for a in load_project_attributes(PROJECT_ROOT / "layers")}
    assert asked and asked <= listed, sorted(asked - listed)


def test_demo_scenic_area_refuses_a_hazardous_goods_store(demo_client):
    general = layer_feature(demo_client, "scenic_area", zone="一般景区")
    site = inside(general, 0.0005)
    unknown = screen(demo_client, site, "G5942")  # a chemicals warehouse, not saying what it builds
    f = next(f for f in unknown["findings"] if f["rule_id"] == "cn.scenic_area_hazardous_storage")
    assert f["status"] == "missing_attribute" and f["missing"] == ["hazardous_goods_storage"]
    store = screen(demo_client, site, "G5942", hazardous_goods_storage=True)
    g = next(f for f in store["findings"] if f["rule_id"] == "cn.scenic_area_hazardous_storage")
    assert g["status"] == "fired" and store["verdict"] == "prohibited"
    assert g["citation"]["clause"] == "第二十六条第（二）项" and g["citation"]["line"] == 9
    plain = screen(demo_client, site, "G5942", hazardous_goods_storage=False)
    assert "cn.scenic_area_hazardous_storage" not in {f["rule_id"] for f in plain["findings"]}
    assert plain["verdict"] == "restricted"  # cn.scenic_area
