"""Hand-built screening scenarios with known answers, on both stores.

Squares in the GK plane of 乐山 (CGCS2000 3° zone, CM 105°E), so every area and distance is exact.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.catalog import load_catalog
from app.domain.footprint import Footprint
from app.domain.geometry import from_crs
from app.domain.models import ImportReport, LayerData, Provenance
from app.domain.screening import ProjectSpec
from app.ingest.boundary import BoundaryOptions, read_geojson_object
from app.screening.industries import load_industries
from app.screening.overlay import overlay
from app.screening.rules import load_rulebook
from app.screening.service import Screener, compare
from app.settings import PROJECT_ROOT
from app.store.pieceindex import WHOLE_MAX_PIECES
from tests.conftest import make_store
from tests.geodata import gk_box, to_lonlat

RULES = Path(__file__).parent / "data" / "rules"
PROV = Provenance(source_document="测试数据")


def publish(store, layer: str, kind: str, geoms_gk, attrs) -> str:
    data = LayerData(kind, to_lonlat(np.array(geoms_gk, dtype=object)), attrs, ImportReport(file_sha256="0" * 64))
    return store.publish(layer, data, PROV).id


def footprint(geom_gk):
    fp = read_geojson_object(shapely.geometry.mapping(to_lonlat(geom_gk)))
    return fp


def screener(store) -> Screener:
    catalog = load_catalog(PROJECT_ROOT / "layers")
    return Screener(store, catalog, load_rulebook(RULES, set(catalog.kinds)), load_industries(PROJECT_ROOT / "layers"))


def run(sc: Screener, geom_gk, industry="C2614", action="new", stack_height_m: float | None = 10, **attrs) -> dict:
    """Screen a GK square; projects state a 10 m stack unless told otherwise (None: not stated)."""
    if stack_height_m is not None:
        attrs["stack_height_m"] = stack_height_m
    geometry = shapely.geometry.mapping(to_lonlat(geom_gk))
    fp = read_geojson_object(geometry)
    return sc.screen_and_keep(fp, ProjectSpec(None, industry, action, attrs),
                              input_bytes=json.dumps(geometry, sort_keys=True).encode(), input_kind="geometry",
                              options=BoundaryOptions())


@pytest.fixture
def world(store):
    return build_world(store)


def build_world(store):
    """Sichuan admin polygon, a river 2 km east of the origin, a redline square, a grade-1 water source."""
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000)],
            [{"code": "510000", "name": "四川省", "level": "province"}])
    river = shapely.LineString([(382_000, 3_260_000), (382_000, 3_280_000)])  # x = ORIGIN + 2,000 m
    publish(store, "rivers", "river_shoreline", [river], [{"name": "岷江", "basin": "长江", "level": "tributary"}])
    publish(store, "redline", "eco_redline", [gk_box(-3000, 0, 1000)], [{"name": "红线甲"}])
    publish(store, "water", "water_source", [gk_box(0, 5000, 500), gk_box(1000, 5000, 500)],
            [{"name": "一级区", "grade": "1"}, {"name": "二级区", "grade": "2"}])
    return store


def fired(record) -> dict[str, str]:
    return {f["rule_id"]: f["verdict"] for f in record["findings"] if f["status"] == "fired"}


@pytest.mark.parametrize("gap,expected", [(999.0, "prohibited"), (1001.0, "allowed")])
def test_shoreline_distance_threshold(world, gap, expected):
    # a 100 m square whose east edge lies `gap` metres west of the river at x = 2,000 m
    sq = gk_box(2000 - gap - 100, 0, 100)
    rec = run(screener(world), sq)
    assert rec["verdict"] == expected
    assert ("t.chem_shoreline" in fired(rec)) == (gap < 1000)
    river = [o for o in rec["overlaps"] if o["layer"] == "rivers"]
    if gap < 1000:
        assert river[0]["distance_m"] == pytest.approx(gap, abs=0.01)
        cite = next(f for f in rec["findings"] if f["rule_id"] == "t.chem_shoreline")["citation"]
        assert cite["seed"] == "001_2329bdaf92fb105c.txt" and cite["line"] == 52


def test_shoreline_rule_only_for_chemical_new_or_expand(world):
    sq = gk_box(1500, 0, 100)
    assert run(screener(world), sq, industry="C2614", action="rebuild")["verdict"] == "allowed"
    assert run(screener(world), sq, industry="D4413")["verdict"] == "allowed"
    assert run(screener(world), sq, industry="C26")["verdict"] == "prohibited"


def test_redline_and_the_142_exception_path(world):
    half = gk_box(-2500, 0, 1000)  # half of it on the redline square [-3000, -2000]
    sc = screener(world)
    rec = run(sc, half)
    assert rec["verdict"] == "prohibited" and fired(rec)["t.redline"] == "prohibited"
    hit = next(o for o in rec["overlaps"] if o["layer"] == "redline")
    assert hit["area_m2"] == pytest.approx(500_000, rel=1e-6) and hit["share_of_footprint"] == pytest.approx(0.5)
    assert hit["share_of_feature"] == pytest.approx(0.5, rel=1e-5)  # ellipsoidal ratio of two GK halves
    la = run(sc, half, limited_activity=3)
    f = next(f for f in la["findings"] if f["rule_id"] == "t.redline")
    assert la["verdict"] == "restricted" and "认定意见" in f["evidence_zh"]
    nm = run(sc, half, national_major_project=True)
    assert nm["verdict"] == "restricted" and "不可避让" in next(
        f for f in nm["findings"] if f["rule_id"] == "t.redline")["evidence_zh"]


def test_missing_attribute_is_incomplete(world):
    rec = run(screener(world), gk_box(-500, 0, 100), industry="D4411", stack_height_m=None)
    f = next(f for f in rec["findings"] if f["rule_id"] == "t.stack")
    assert rec["verdict"] == "incomplete" and f["status"] == "missing_attribute" and f["missing"] == ["stack_height_m"]
    assert run(screener(world), gk_box(-500, 0, 100), industry="D4411", stack_height_m=30)["verdict"] == "allowed"
    assert run(screener(world), gk_box(-500, 0, 100), industry="D4411", stack_height_m=80)["verdict"] == "restricted"


def test_missing_layer_is_never_a_silent_pass(store):
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000)], [{"code": "510000"}])
    rec = run(screener(store), gk_box(0, 0, 100), industry="D4411")
    not_checked = {f["rule_id"] for f in rec["findings"] if f["status"] == "not_checked"}
    assert not_checked == {"t.redline", "t.water"}  # the shoreline rule does not concern a power plant
    assert rec["verdict"] == "incomplete"
    chem = run(screener(store), gk_box(0, 0, 100), industry="C2614")
    assert {f["rule_id"] for f in chem["findings"] if f["status"] == "not_checked"} == {
        "t.redline", "t.water", "t.chem_shoreline"}


def test_attribute_filter_and_grade(world):
    rec = run(screener(world), gk_box(0, 5000, 1500, 100), industry="D4411")
    assert fired(rec) == {"t.water": "prohibited"}
    f = next(f for f in rec["findings"] if f["rule_id"] == "t.water")
    assert len(f["feature_ids"]) == 1 and f["feature_ids"][0].endswith(".0")  # only the grade-1 feature


def test_jurisdiction_is_resolved_through_admin_regions(store):
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 10_000)], [{"code": "510000"}])
    river = shapely.LineString([(382_000, 3_260_000), (382_000, 3_280_000)])
    publish(store, "rivers", "river_shoreline", [river], [{"basin": "长江"}])
    rec = run(screener(store), gk_box(1500, 0, 100))
    assert "t.chem_shoreline" not in fired(rec)  # the footprint lies outside the Sichuan polygon


FP = shapely.box(0, 0, 100, 100)  # a 1 ha footprint (planar units stand in for lon/lat: a ratio is taken)


def _hits(*rows):
    from app.screening.engine import AdminHit, county_code

    return [AdminHit(county_code(c), shapely.intersection(FP, shapely.box(x0, 0, x1, 100)), counts)
            for c, x0, x1, counts in rows]


@pytest.mark.parametrize("code, rows, known, expected", [
    ("511102", [("511102", 0, 100, True)], {"510000", "511102"}, "in"),
    ("510000", [("511102", 0, 100, True)], {"511102"}, "in"),  # through a sub-region
    ("500000", [("500101", 0, 100, True)], {"500101"}, "in"),  # a municipality's district
    ("460000", [("469001", 0, 100, True)], {"469001"}, "in"),  # a county-level city under the province
    ("513200", [("510000", 0, 100, True), ("511102", 0, 100, True)], {"510000", "511102"}, "out"),
    ("513200", [("510000", 0, 100, True)], {"510000"}, "unknown"),  # only the province drawn
    ("511100", [("510000", 0, 100, True)], {"510000", "511112"}, "unknown"),  # a drawn county is not the city
    ("511100", [("510000", 0, 100, True)], {"510000", "511100"}, "out"),  # the city drawn, not met
    ("513200", [("510000", 0, 100, True), ("511102", 0, 40, True)], {"510000", "511102"}, "unknown"),
    ("513200", [("510000", 0, 100, True), ("511100", 0, 100, True), ("511102", 0, 40, True)],
     {"510000", "511100", "511102"}, "out"),  # the city beside it holds it all
    ("120000", [("510000", 0, 100, True)], {"510000"}, "out"),  # another province holds it
    ("511102", [], {"510000"}, "out"),  # outside the drawn province that holds the county
    ("510000", [], {"511102"}, "unknown"),  # outside the one county drawn: maybe still in the province
    ("513200", [("510000", 0, 0.005, False)], {"510000"}, "out"),  # Sichuan's sliver is no hit either
    ("510000", [], {"511102", "620000"}, "unknown"),
    ("511102", [("510000", 0, 100, True)], None, "out"),  # not asked
    # one county as two rows, or as two of its towns: together they hold it
    ("513200", [("510000", 0, 100, True), ("511102", 0, 50, True), ("511102", 50, 100, True)], {"510000"}, "out"),
    ("513200", [("510000", 0, 100, True), ("511102100000", 0, 50, True), ("511102101000", 50, 100, True)],
     {"510000"}, "out"),
    # a neighbour's sliver, or a gap under the sliver tolerance, leaves nothing to doubt
    ("513200", [("510000", 0, 100, True), ("511102", 0, 99.995, True), ("511112", 99.995, 100, False)],
     {"510000"}, "out"),
    ("513200", [("510000", 0, 100, True), ("511102", 0, 99.995, True)], {"510000"}, "out"),
    ("511800", [("511113", 0, 40, True)], {"511102", "511113"}, "unknown"),  # the rest is off the layer
    ("513200", [("510000", 0, 100, True), ("511102", 0, 60, True), ("511112", 20, 80, True)],
     {"510000"}, "unknown"),  # overlapping neighbours hold 80 %, not 120 %
])
def test_where_a_footprint_lies_among_admin_regions(code, rows, known, expected):
    from app.screening.engine import _jurisdiction

    assert _jurisdiction(code, _hits(*rows), known, FP, 10_000.0, 1.0) == expected


def test_region_codes_are_read_as_counties():
    from app.screening.engine import county_code

    assert [county_code(c) for c in ("511102", "511102100000", "511102100", 510000, "", None, "51", "abcdef")] == [
        "511102", "511102", "511102", "510000", None, None, None, None]


COUNTY_RULES = """ruleset: {id: county, level: county, jurisdiction: "511102", name_zh: 市中区（测试）, name_en: Shizhong (test)}
rules:
  - id: t.county
    title_zh: 区内新建项目须进园
    title_en: New projects go into the park
    verdict: conditional
    message_zh: 区内新建项目须进园
    message_en: New projects go into the park
    citation: {document: 测试, clause: 测试, quote: 新建项目须进园, quote_kind: paraphrase}
"""


def test_a_local_rule_whose_region_the_admin_layer_lacks_is_not_checked_where_it_may_apply(store, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "county.yaml").write_text(COUNTY_RULES, encoding="utf-8")
    catalog = load_catalog(PROJECT_ROOT / "layers")
    sc = Screener(store, catalog, load_rulebook(rules, set(catalog.kinds)), load_industries(PROJECT_ROOT / "layers"))
    site, river = gk_box(1500, 0, 100), shapely.LineString([(382_000, 3_260_000), (382_000, 3_280_000)])
    publish(store, "rivers", "river_shoreline", [river], [{"basin": "长江"}])
    # the province only: the footprint lies in Sichuan, and nothing says whether it lies in 511102
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000)], [{"code": "510000"}])
    rec = run(sc, site)
    [county] = [f for f in rec["findings"] if f["rule_id"] == "t.county"]
    assert county["status"] == "not_checked" and "511102" in county["message_zh"]
    assert fired(rec) == {"t.chem_shoreline": "prohibited"}
    # the county's boundary elsewhere: the footprint is outside it
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000), gk_box(-9000, 0, 1000)],
            [{"code": "510000"}, {"code": "511102"}])
    assert "t.county" not in {f["rule_id"] for f in run(sc, site)["findings"]}
    # only the county, drawn around the footprint: its province's rules apply as well (a sub-region)
    publish(store, "admin", "admin_region", [gk_box(1000, -500, 1000)], [{"code": "511102"}])
    inside = run(sc, site)
    assert fired(inside) == {"t.chem_shoreline": "prohibited", "t.county": "conditional"}
    # the first record re-run on this layer: the same rule, now decided
    [change] = sc.rerun(rec["id"], "current")["findings_changed"]
    assert change["rule_id"] == "t.county"
    assert change["before"] == {"verdict": "incomplete", "status": "not_checked", "missing": []}
    assert change["after"] == {"verdict": "conditional", "status": "fired", "missing": []}
    # far from the one county the layer holds: outside the county; the province is not drawn, so its
    # rules may apply there and are not checked (they were passed over before stop 15)
    far = run(sc, gk_box(30_000, 30_000, 100))
    assert "t.county" not in {f["rule_id"] for f in far["findings"]}
    [province] = [f for f in far["findings"] if f["rule_id"] == "t.chem_shoreline"]
    assert province["status"] == "not_checked" and "510000" in province["message_zh"]


def test_an_overlap_within_the_sliver_tolerance_touches_nothing_and_is_recorded_as_such(world):
    """A digitising sliver (0.5 m² along the redline's edge) is below the default 1 m² tolerance: the
    overlap is listed with its area but triggers no rule; with the tolerance at 0.1 m² it does."""
    sc = screener(world)
    site = gk_box(-2000.5, 0, 100.5, 1)  # 0.5 m × 1 m inside the redline square [-3000, -2000]
    geometry = shapely.geometry.mapping(to_lonlat(site))
    project = ProjectSpec(None, "C2614", "new", {"stack_height_m": 10})
    rec = sc.screen_and_keep(read_geojson_object(geometry), project, input_bytes=json.dumps(geometry).encode(),
                             input_kind="geometry", options=BoundaryOptions())
    [o] = [o for o in rec["overlaps"] if o["layer"] == "redline"]
    assert o["area_m2"] == pytest.approx(0.5, rel=1e-3) and rec["parameters"]["sliver_m2"] == 1.0
    assert "t.redline" not in fired(rec) and rec["verdict"] == "allowed"
    strict = sc.screen_and_keep(read_geojson_object(geometry), project, input_bytes=json.dumps(geometry).encode(),
                                input_kind="geometry", options=BoundaryOptions(), sliver_m2=0.1)
    assert fired(strict) == {"t.redline": "prohibited"} and strict["parameters"]["sliver_m2"] == 0.1
    assert sc.rerun(strict["id"], "recorded")["same"]  # the tolerance is part of the record


def test_overlapping_features_are_not_counted_twice(store):
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000)], [{"code": "510000"}])
    publish(store, "redline", "eco_redline", [gk_box(0, 0, 600), gk_box(300, 0, 600)], [{"name": "a"}, {"name": "b"}])
    fp = footprint(gk_box(0, 0, 1000))
    res = overlay(store, fp)
    per_feature = sum(o.area_m2 for o in res.overlaps if o.layer == "redline")
    (layer,) = [x for x in res.layers if x.layer == "redline"]
    assert per_feature == pytest.approx(2 * 360_000, rel=1e-6)
    assert layer.area_m2 == pytest.approx(900 * 600, rel=1e-6) and layer.share_of_footprint == pytest.approx(0.54)
    assert layer.features == 2


def _comparable(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if k not in ("id", "created_at", "store")}
    out["overlaps"] = sorted(({**o, "area_m2": round(o["area_m2"], 3), "area_m2_ellipsoidal":
                               round(o["area_m2_ellipsoidal"], 3), "distance_m": round(o["distance_m"], 3),
                               "share_of_footprint": round(o["share_of_footprint"], 9),
                               "share_of_feature": round(o["share_of_feature"], 9) if o["share_of_feature"] else None}
                              for o in rec["overlaps"]), key=lambda o: o["feature_id"])
    out.pop("overlap_geometries")
    out.pop("layer_overlaps")
    return out


def test_same_scenario_same_record_on_both_stores(tmp_path, catalog, pg_url):
    records = []
    for which in ("embedded", "postgis"):
        st = make_store(which, tmp_path / which, catalog)
        try:
            build_world(st)
            records.append(run(screener(st), gk_box(-2500, 0, 4400, 300)))
        finally:
            st.close()
    a, b = (_comparable(r) for r in records)
    assert a == b
    assert records[0]["verdict"] == "prohibited" and len(records[0]["overlaps"]) >= 3


def test_rerun_reproduces_and_reports_zoning_changes(world):
    sc = screener(world)
    sq = gk_box(-2500, 0, 1000)
    rec = run(sc, sq)
    again = sc.rerun(rec["id"], "recorded")
    assert again["same"] and again["record"]["verdict"] == rec["verdict"]
    assert again["record"]["layer_versions"] == rec["layer_versions"]
    assert world.get_screening(rec["id"]) == rec  # kept as it was
    # the redline is redrawn away from the site: a re-run on current versions shows the difference
    publish(world, "redline", "eco_redline", [gk_box(-9000, 0, 1000)], [{"name": "红线甲（调整）"}])
    cur = sc.rerun(rec["id"], "current")
    assert not cur["same"] and cur["verdict"] == {"before": "prohibited", "after": "allowed"}
    assert [f["rule_id"] for f in cur["findings_removed"]] == ["t.redline"]
    assert cur["layer_versions_changed"] == {"redline": {"before": "redline.v1", "after": "redline.v2"}}
    # and as of the recorded versions it is still what it was
    assert sc.rerun(rec["id"], "recorded")["same"]


def test_a_rerun_on_a_republished_layer_compares_features_not_version_ids(world):
    sc = screener(world)
    sq = gk_box(-2500, 0, 1000)  # half on the redline square [-3000, -2000] × [0, 1000]
    rec = run(sc, sq)
    # the same redline published again: only the version changed
    publish(world, "redline", "eco_redline", [gk_box(-3000, 0, 1000)], [{"name": "红线甲"}])
    same = sc.rerun(rec["id"], "current")
    assert same["same"], same
    assert same["layer_versions_changed"] == {"redline": {"before": "redline.v1", "after": "redline.v2"}}
    assert not (same["findings_added"] or same["findings_removed"] or same["overlaps_added"]
                or same["overlaps_removed"] or same["overlap_areas_changed"])
    # redrawn 100 m east, same attributes: the same feature with a larger overlap, the same findings
    publish(world, "redline", "eco_redline", [gk_box(-2900, 0, 1000)], [{"name": "红线甲"}])
    moved = sc.rerun(rec["id"], "current")
    assert not moved["same"] and moved["verdict"] == {"before": "prohibited", "after": "prohibited"}
    assert not (moved["findings_added"] or moved["findings_removed"] or moved["overlaps_added"]
                or moved["overlaps_removed"])
    [change] = moved["overlap_areas_changed"]
    assert change["feature_id_before"] == "redline.v1.0" and change["feature_id"] == "redline.v3.0"
    assert change["before_m2"] == pytest.approx(500_000, rel=1e-6)
    assert change["after_m2"] == pytest.approx(600_000, rel=1e-6)
    # with a code, the code is the identity: renamed, still the same feature, with what changed in it;
    # without, a new one
    publish(world, "redline", "eco_redline", [gk_box(-3000, 0, 1000)], [{"name": "红线甲", "code": "R-1"}])
    coded = run(sc, sq)
    publish(world, "redline", "eco_redline", [gk_box(-3000, 0, 1000)], [{"name": "红线甲（更名）", "code": "R-1"}])
    renamed = sc.rerun(coded["id"], "current")
    assert not renamed["same"] and not (renamed["findings_added"] or renamed["findings_removed"]
                                        or renamed["overlaps_added"] or renamed["overlaps_removed"])
    assert renamed["overlap_attributes_changed"] == [{
        "feature_id": "redline.v5.0", "feature_id_before": "redline.v4.0",
        "changes": {"name": {"before": "红线甲", "after": "红线甲（更名）"}}}]
    publish(world, "redline", "eco_redline", [gk_box(-3000, 0, 1000)], [{"name": "红线甲（再更名）"}])
    renamed = sc.rerun(coded["id"], "current")
    assert [o["feature_id"] for o in renamed["overlaps_removed"]] == ["redline.v4.0"]
    assert [o["feature_id"] for o in renamed["overlaps_added"]] == ["redline.v6.0"]


def test_a_code_told_apart_only_in_the_new_version_still_matches_by_attributes(world):
    """Two redline squares shared a code in the old version; the new one gives the second its own.
    The first is the same feature on both sides (matched by its attributes, since the code did not tell
    the features apart in the old record); the second, whose code changed, is a new one."""
    sc = screener(world)
    squares = [gk_box(-3000, 0, 500), gk_box(-2500, 0, 500)]
    publish(world, "zones", "eco_redline", squares, [{"code": "X", "name": "甲"}, {"code": "X", "name": "乙"}])
    rec = run(sc, gk_box(-2800, 100, 600, 100))
    publish(world, "zones", "eco_redline", squares, [{"code": "X", "name": "甲"}, {"code": "Y", "name": "乙"}])
    cur = sc.rerun(rec["id"], "current")
    assert [o["feature_id"] for o in cur["overlaps_removed"]] == ["zones.v1.1"]
    assert [o["feature_id"] for o in cur["overlaps_added"]] == ["zones.v2.1"]


def test_a_rerun_sees_a_revised_access_list_and_not_a_republished_one(world):
    sc = screener(world)
    sq = gk_box(4000, 0, 400)  # across the line x = 4,200 between the two units
    layer = {"name": "单元甲", "code": "U-1", "category": "key", "spatial_layout": "禁止新建化工项目"}
    codeless = {"name": "单元乙", "category": "general", "spatial_layout": "执行通用要求"}
    twins = [{"name": "红线", "redline_type": "水源涵养"}] * 2  # no code, the same attributes
    units = [gk_box(3800, 0, 400), gk_box(4200, 0, 400)]
    publish(world, "units", "control_unit", units, [layer, codeless])
    publish(world, "twins", "eco_redline", [gk_box(3900, 100, 100), gk_box(4300, 100, 100)], twins)
    rec = run(sc, sq)
    listed = {f["rule_id"]: f["feature_ids"] for f in rec["findings"] if f["status"] == "access_list"}
    # the coded unit is named by its code; the codeless one by its feature id alone, not in its rule id
    assert listed == {"access_list.U-1": ["units.v1.0"], "access_list": ["units.v1.1"]}
    publish(world, "units", "control_unit", units, [layer, codeless])
    again = sc.rerun(rec["id"], "current")
    assert set(again["layer_versions_changed"]) == {"units"} and again["same"], again
    # a record made before the codeless id left the rule id (it read access_list.units.v1.1) compares alike
    old_style = {**rec, "findings": [{**f, "rule_id": "access_list.units.v1.1"} if f["rule_id"] == "access_list"
                                     else f for f in rec["findings"]]}
    assert compare(old_style, again["record"])["same"]
    # the twins cannot be told apart: republished, they are new features (and the rule fires anew)
    publish(world, "twins", "eco_redline", [gk_box(3900, 100, 100), gk_box(4300, 100, 100)], twins)
    twice = sc.rerun(rec["id"], "current")
    assert not twice["same"] and len(twice["overlaps_removed"]) == len(twice["overlaps_added"]) == 2
    assert {o["layer"] for o in twice["overlaps_added"]} == {"twins"}
    # unit 甲's access list revised: the same unit, its new text reported
    publish(world, "units", "control_unit", units,
            [{**layer, "category": "priority", "spatial_layout": "禁止一切开发建设活动"}, codeless])
    revised = sc.rerun(rec["id"], "current")
    [change] = revised["overlap_attributes_changed"]
    assert change["changes"] == {"category": {"before": "key", "after": "priority"},
                                 "spatial_layout": {"before": "禁止新建化工项目", "after": "禁止一切开发建设活动"}}
    assert not revised["same"] and change["feature_id_before"] == "units.v1.0"


@pytest.mark.parametrize("gap,fires", [(999.0, True), (1001.0, False)])
def test_the_shipped_province_and_county_shoreline_rules_at_their_threshold(store, gap, fires):
    """The shipped rule files, not test copies: Sichuan's 1 km Yangtze-basin rule and 市中区's 1 km rule
    for the 岷江 by name, 999 m and 1,001 m from the shoreline for a new C26 (chemical) project."""
    catalog = load_catalog(PROJECT_ROOT / "layers")
    sc = Screener(store, catalog, load_rulebook(PROJECT_ROOT / "layers" / "rules", set(catalog.kinds)),
                  load_industries(PROJECT_ROOT / "layers"))
    publish(store, "admin", "admin_region", [gk_box(-50_000, -50_000, 100_000), gk_box(-20_000, -20_000, 40_000)],
            [{"code": "510000"}, {"code": "511102"}])
    river = shapely.LineString([(382_000, 3_260_000), (382_000, 3_280_000)])  # x = ORIGIN + 2,000 m
    publish(store, "rivers", "river_shoreline", [river], [{"name": "岷江", "basin": "长江", "level": "tributary"}])
    rec = run(sc, gk_box(2000 - gap - 100, 0, 100), industry="C2614", air_emission=False, voc_emission=False,
              high_voc=False, water_withdrawal_m3_per_day=0, new_discharge_outlet=False)
    # inside 市中区, which lies beside Aba and Ganzi: their rules are not "not checked"
    assert not [f["rule_id"] for f in rec["findings"] if f["status"] == "not_checked"
                and f["jurisdiction"] in ("513200", "513300")]
    shore = {r: v for r, v in fired(rec).items() if r in ("sc.chem_shoreline_1km", "sz.chem_shoreline_1km")}
    assert shore == ({"sc.chem_shoreline_1km": "prohibited", "sz.chem_shoreline_1km": "prohibited"} if fires else {})
    assert (rec["verdict"] == "prohibited") == fires


def test_records_are_immutable(world):
    rec = run(screener(world), gk_box(0, 0, 10))
    import psycopg

    if world.kind == "postgis":
        with pytest.raises(psycopg.errors.RaiseException), psycopg.connect(world.url) as c:
            c.execute("UPDATE screening SET verdict = 'allowed'")
    else:
        import sqlite3

        con = sqlite3.connect(world.path)
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("DELETE FROM er_screening")
        con.close()
    assert world.get_screening(rec["id"])["verdict"] == rec["verdict"]


def test_publish_records_whether_features_overlap_and_the_dissolve_is_right_either_way(store):
    """Both stores record at publish whether any two features share interior points. A layer whose
    features tile (control units) is dissolved by adding its clips' areas; one whose features overlap
    is united, so an overlap still counts once."""
    from app.domain.geometry import to_gk

    tiles = [gk_box(x, y, 200) for x in range(0, 1200, 200) for y in range(0, 1200, 200)]  # edges shared
    pair = [gk_box(0, 0, 600), gk_box(300, 300, 600)]  # overlapping by 300 × 300
    units = publish(store, "units", "control_unit", tiles, [{"name": f"u{i}"} for i in range(len(tiles))])
    red = publish(store, "redline", "eco_redline", pair, [{"name": "a"}, {"name": "b"}])
    assert store.get_version(units).report["features_overlap"] is False
    assert store.get_version(units).report["longest_edge_m"] == pytest.approx(200, abs=1)
    assert store.get_version(red).report["features_overlap"] is True
    fp_gk = gk_box(150, 150, 700)  # across 25 tiles and both redline squares
    fp = footprint(fp_gk)
    assert {p.layer_id: p.apart for p in store.candidate_pieces(fp.geometry)} == {"units": True, "redline": False}
    res = overlay(store, fp)
    direct = to_gk(fp.geometry, 4544)
    got = {x.layer: x for x in res.layers}
    assert got["units"].area_m2 == pytest.approx(direct.area, rel=1e-9)  # all of it, once
    assert got["units"].share_of_footprint <= 1.0 and got["units"].features == 25
    assert got["units"].area_m2_ellipsoidal == pytest.approx(fp.echo.area_m2_ellipsoidal, rel=1e-6)
    union = shapely.intersection(direct, shapely.union_all(to_gk(to_lonlat(np.array(pair, dtype=object)), 4544)))
    assert got["redline"].area_m2 == pytest.approx(union.area, rel=1e-6)
    assert got["redline"].area_m2 < sum(o.area_m2 for o in res.overlaps if o.layer == "redline") - 80_000


@pytest.mark.parametrize("edge_deg", [None, 0.0009])
def test_long_lonlat_edges_with_a_t_junction_are_united(store, edge_deg):
    """A review case: three lon/lat units that share no interior point, one split where the other is
    not (a T-junction on a 0.4° edge). In the GK plane the long edge is a chord and the split ones bulge
    into it by metres, so adding areas would count that twice: such a layer is united. With its edges
    cut to ~100 m the bulge is a millimetre, and adding areas agrees with the union to 1e-6."""
    from app.domain.geometry import to_gk

    lat = 29.5
    units = [shapely.box(103.5, lat, 103.9, lat + 0.1), shapely.box(103.5, lat - 0.1, 103.85, lat),
             shapely.box(103.85, lat - 0.1, 103.9, lat)]
    if edge_deg:
        units = [shapely.segmentize(u, edge_deg) for u in units]
    data = LayerData("control_unit", np.array(units, dtype=object), [{"name": str(i)} for i in range(3)],
                     ImportReport(file_sha256="0" * 64))
    report = store.get_version(store.publish("units", data, PROV).id).report
    assert report["features_overlap"] is False
    assert (report["longest_edge_m"] > 250) is (edge_deg is None)
    fp_ll = shapely.box(103.84, lat - 0.001, 103.95, lat + 0.001)  # across the junction, past the layer
    fp = read_geojson_object(shapely.geometry.mapping(fp_ll))
    assert {p.apart for p in store.candidate_pieces(fp.geometry)} == {edge_deg is not None}
    got = overlay(store, fp).layers[0]
    truth = shapely.intersection(to_gk(fp_ll, fp.echo.gk_epsg),
                                 shapely.union_all(to_gk(np.array(units, dtype=object), fp.echo.gk_epsg))).area
    assert got.area_m2 == pytest.approx(truth, rel=1e-6)


@pytest.mark.parametrize("case", ["shared edge", "gap"])
def test_a_long_edged_layer_is_united_even_as_an_exact_coverage(store, case):
    """Review cases: a lon/lat edge of ~40 km is a chord in the GK plane that bulges by metres, over a
    neighbour sharing it (once a cut adds a vertex on one side) and over one across a gap that does not
    share it at all (+90,224 m² with an 11 m gap). Such layers are united: the area is the union's."""
    from app.domain.geometry import to_gk

    lat = 29.5
    a = shapely.box(103.5, lat - 0.1, 103.9, lat)  # a 0.4° top edge along the parallel
    if case == "shared edge":
        xs = np.linspace(103.9, 103.5, 400)  # 400 vertices on its far side: subdivide cuts it
        b = shapely.Polygon([(103.5, lat), (103.9, lat), *np.column_stack([xs, lat + 0.1 + 0.001 * np.sin(xs * 3000)])])
    else:
        b = shapely.box(103.69, lat + 0.0001, 103.71, lat + 0.0021)  # 11 m above the edge, touching nothing
    units = np.array([a, shapely.orient_polygons(b)], dtype=object)
    data = LayerData("control_unit", units, [{"name": "a"}, {"name": "b"}], ImportReport(file_sha256="0" * 64))
    report = store.get_version(store.publish("units", data, PROV).id).report
    assert report["features_overlap"] is False and report["longest_edge_m"] > 30_000
    fp_ll = shapely.box(103.695, lat - 0.003, 103.705, lat + 0.003)  # across the edge and into b
    fp = read_geojson_object(shapely.geometry.mapping(fp_ll))
    assert {p.apart for p in store.candidate_pieces(fp.geometry)} == {False}
    got = overlay(store, fp).layers[0]
    e = fp.echo.gk_epsg
    truth = shapely.intersection(to_gk(fp_ll, e), shapely.union_all(to_gk(units, e))).area
    assert got.area_m2 == pytest.approx(truth, rel=1e-7)


def test_a_version_published_before_overlaps_were_recorded_is_united(store_kind, tmp_path, catalog):
    """A version whose report does not say (published by an older EcoRedline) is treated as overlapping."""
    st = make_store(store_kind, tmp_path, catalog)
    try:
        vid = publish(st, "units", "control_unit", [gk_box(0, 0, 300), gk_box(300, 0, 300)], [{}, {}])
        if store_kind == "postgis":
            with psycopg.connect(st.url, autocommit=True) as conn:
                conn.execute("UPDATE layer_version SET report = report - 'features_overlap' WHERE id = %s", (vid,))
        else:
            st._con.execute("UPDATE er_layer_version SET report = json_remove(report, '$.features_overlap')"
                            " WHERE id = ?", (vid,))
            st._con.commit()
    finally:
        st.close()
    st = make_store(store_kind, tmp_path, catalog) if store_kind == "embedded" else \
        _reopen_postgis(catalog)
    try:
        assert "features_overlap" not in st.get_version(vid).report
        fp = footprint(gk_box(200, 0, 200, 100))
        assert {p.apart for p in st.candidate_pieces(fp.geometry)} == {False}
        assert overlay(st, fp).layers[0].area_m2 == pytest.approx(20_000, rel=1e-6)
    finally:
        st.close()


def _reopen_postgis(catalog):
    from app.settings import Settings
    from app.store.postgis import PostgisStore
    from tests.conftest import PG_URL

    return PostgisStore(PG_URL, catalog, Settings(database_url=PG_URL))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000))
def test_overlay_areas_equal_direct_shapely(tmp_path_factory, catalog, seed):
    """Areas, the per-layer dissolve and distances equal a direct shapely computation. Zones have up to
    900 vertices, so they are cut into several pieces and the overlay joins clips piece by piece.

    Tolerance: pieces are cut in lon/lat, and a cut point on an edge lies on the lon/lat chord, which
    in the GK plane strays from the straight edge by ~(L / 20 km)² × 0.24 m — 2 mm for the 1.8 km edges
    these random stars can have (real boundaries' edges are metres long): a few m² along a km of cut,
    1 cm of a distance. A lost or doubled piece would be off by hundreds of m²."""
    rng = np.random.default_rng(seed)
    tmp = tmp_path_factory.mktemp("prop")
    st_ = make_store("embedded", tmp, catalog)
    try:
        zones = []
        for _ in range(rng.integers(1, 6)):
            n = int(rng.integers(40, 900))
            a = np.sort(rng.uniform(0, 2 * np.pi, n))
            r = rng.uniform(100, 900, n)
            cx, cy = rng.uniform(-1500, 1500), rng.uniform(-1500, 1500)
            zones.append(shapely.make_valid(shapely.Polygon(np.column_stack([380_000 + cx + r * np.cos(a),
                                                                             3_270_000 + cy + r * np.sin(a)]))))
        publish(st_, "redline", "eco_redline", zones, [{"name": str(i)} for i in range(len(zones))])
        # control units tiling the land (x + w and the next cell's x may differ in the last bit, as in
        # real data: within the slack): dissolved by adding areas
        step = float(rng.uniform(250, 700))
        cells = [shapely.segmentize(gk_box(-1800 + i * step, -1800 + j * step, step), 200)  # edges ≤ 200 m
                 for i in range(int(3600 // step)) for j in range(int(3600 // step))]
        units = publish(st_, "units", "control_unit", cells, [{"name": str(i)} for i in range(len(cells))])
        assert st_.get_version(units).report["features_overlap"] is False
        assert {p.apart for p in st_.candidate_pieces(to_lonlat(gk_box(-1800, -1800, 3600)), layers=["units"])} == {True}
        fx, fy, w, h = rng.uniform(-1500, 1000), rng.uniform(-1500, 1000), rng.uniform(50, 1500), rng.uniform(50, 1500)
        shape = rng.integers(0, 4)  # a box, a turned box, a concave star, two parts
        fp_gk = gk_box(fx, fy, w, h)
        if shape == 1:
            fp_gk = shapely.affinity.rotate(fp_gk, float(rng.uniform(5, 85)))
        elif shape == 2:
            k = int(rng.integers(8, 40))
            a = np.sort(rng.uniform(0, 2 * np.pi, k))
            r = rng.uniform(0.3, 1.0, k) * min(w, h) / 2
            c = fp_gk.centroid
            fp_gk = shapely.make_valid(shapely.Polygon(np.column_stack([c.x + r * np.cos(a), c.y + r * np.sin(a)])))
        elif shape == 3:
            fp_gk = shapely.union(gk_box(fx, fy, w / 2, h), gk_box(fx + w * 0.7, fy, w * 0.3, h / 2))
        reach = float(rng.choice([0.0, 150.0, 600.0]))
        res = overlay(st_, footprint(fp_gk), distance_m=reach)
        # direct computation: the same lon/lat geometries projected back, intersected without any index
        from app.domain.geometry import to_gk

        fp_direct = to_gk(to_lonlat(fp_gk), 4544)
        zones_direct = to_gk(to_lonlat(np.array(zones, dtype=object)), 4544)
        expected = {i: shapely.intersection(fp_direct, z).area for i, z in enumerate(zones_direct)}
        got = {int(o.feature_id.rsplit(".", 1)[1]): o.area_m2 for o in res.overlaps if o.layer == "redline"}
        for i, area in expected.items():
            assert got.get(i, 0.0) == pytest.approx(area, rel=1e-5, abs=5.0)
        union = shapely.intersection(fp_direct, shapely.union_all(zones_direct)).area
        layer_area = sum(x.area_m2 for x in res.layers if x.layer == "redline")
        assert layer_area == pytest.approx(union, rel=1e-5, abs=5.0)
        cells_direct = shapely.union_all(to_gk(to_lonlat(np.array(cells, dtype=object)), 4544))
        unit_area = sum(x.area_m2 for x in res.layers if x.layer == "units")
        assert unit_area == pytest.approx(shapely.intersection(fp_direct, cells_direct).area, rel=1e-6, abs=1.0)
        distances = {i: shapely.distance(fp_direct, z) for i, z in enumerate(zones_direct)}
        found = {int(o.feature_id.rsplit(".", 1)[1]): o.distance_m for o in res.overlaps if o.layer == "redline"}
        for i, d in distances.items():
            if d <= reach - 0.01:
                assert found[i] == pytest.approx(d, abs=0.01)
            elif d > reach + 0.01:
                assert i not in found
    finally:
        st_.close()


def test_rerun_as_recorded_ignores_layers_published_since(world):
    sc = screener(world)
    rec = run(sc, gk_box(-500, 0, 100))
    publish(world, "farmland", "basic_farmland", [gk_box(-600, -100, 400)], [{"name": "农田"}])
    assert sc.rerun(rec["id"], "recorded")["same"]
    cur = sc.rerun(rec["id"], "current")
    assert [o["layer"] for o in cur["overlaps_added"]] == ["farmland"]


@pytest.mark.parametrize("value", ["60m", None, True])
def test_a_fact_of_the_wrong_type_counts_as_not_given(world, value):
    geometry = shapely.geometry.mapping(to_lonlat(gk_box(-500, 0, 100)))
    rec = screener(world).screen(read_geojson_object(geometry), ProjectSpec(None, "D4411", "new",
                                                                            {"stack_height_m": value}),
                                 input_bytes=None, input_kind="geometry", options=BoundaryOptions())
    f = next(f for f in rec["findings"] if f["rule_id"] == "t.stack")
    assert rec["verdict"] == "incomplete" and f["missing"] == ["stack_height_m"]


def test_rules_that_do_not_concern_the_project_need_no_layer(store):
    # no admin regions, no rivers: a power plant is not asked about the chemical shoreline rule
    rec = run(screener(store), gk_box(0, 0, 100), industry="D4411")
    assert "t.chem_shoreline" not in {f["rule_id"] for f in rec["findings"]}


def _gpkg_footprint(tmp_path: Path, geoms_gk, epsg: int = 4544):
    """A boundary as planners send it: a GeoPackage in GK metres (read in its own GK plane)."""
    import geopandas as gpd

    from app.ingest.boundary import read_boundary

    path = tmp_path / "boundary.gpkg"
    gpd.GeoDataFrame({"名称": [f"地块{i}" for i in range(len(geoms_gk))]}, geometry=list(geoms_gk), crs=epsg).to_file(
        path, driver="GPKG")
    return read_boundary(path.read_bytes(), "boundary.gpkg")


def test_a_boundary_sharing_a_features_edge_touches_it(store, tmp_path):
    """The footprint is measured as stored (lon/lat, projected like every piece): an edge it shares with a
    feature, to the last digit of the GK coordinates both were drawn in, is a touch — distance 0, no area."""
    publish(store, "redline", "eco_redline", [gk_box(0, 0, 100)], [{"name": "红线甲"}])
    fp = _gpkg_footprint(tmp_path, [gk_box(100, 0, 100)])
    for reach in (0.0, 10.0):
        res = overlay(store, fp, distance_m=reach)
        [o] = [o for o in res.overlaps if o.layer == "redline"]
        assert o.distance_m == 0.0 and o.area_m2 == 0.0 and o.geometry is None


def _gk(epsg: int, lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    return Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)


def test_long_edges_are_measured_as_drawn_and_found(store, tmp_path):
    """A 20 km × 200 m strip (zone 30, 40° N): its long edges, straight in the GK plane, stray by metres
    from a straight lon/lat line. A feature overlapping the strip by 3 m must still be found and give
    600 m², with no distance asked; a parcel 1 m off the long edge stays a separate, valid part."""
    x, y = _gk(4539, 90.0, 40.0)
    strip = shapely.box(x - 10_000, y, x + 10_000, y + 200)
    feature = shapely.box(x - 100, y - 197, x + 100, y + 3)  # 200 m × 3 m inside the strip
    data = LayerData("eco_redline", from_crs(np.array([feature], dtype=object), 4539),
                     [{"name": "红线乙"}], ImportReport(file_sha256="0" * 64))
    store.publish("redline", data, PROV)
    fp = _gpkg_footprint(tmp_path, [strip, shapely.box(x + 5_000, y - 21, x + 5_020, y - 1)], epsg=4539)
    assert fp.geometry.is_valid and fp.echo.parts == 2
    assert fp.echo.area_m2_gk == pytest.approx(4_000_000 + 400, rel=1e-9)
    res = overlay(store, fp)
    [o] = [o for o in res.overlaps if o.layer == "redline"]
    assert o.area_m2 == pytest.approx(600, rel=1e-6)


def test_a_footprint_invalid_in_the_gk_plane_is_still_measured(store, monkeypatch):
    """A shape valid in lon/lat may not be once projected (never seen, but GEOS would then refuse to
    overlay it): the overlay mends it in the GK plane and measures, never a 500."""
    import app.screening.overlay as ov

    publish(store, "redline", "eco_redline", [gk_box(0, 0, 100)], [{"name": "红线甲"}])
    real = ov.to_gk

    def bow_tie_first(geoms, epsg):  # the footprint comes out of the projection as a bow-tie
        out = real(geoms, epsg)
        x, y = real(to_lonlat(gk_box(50, 0, 0, 0)).centroid, epsg).coords[0]
        out[0] = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
        return out

    monkeypatch.setattr(ov, "to_gk", bow_tie_first)
    read = footprint(gk_box(50, 0, 100))
    fp = Footprint(read.geometry, read.echo)  # without the ingest's GK image: projected by the overlay
    res = overlay(store, fp)
    [o] = [o for o in res.overlaps if o.layer == "redline"]
    assert o.area_m2 == pytest.approx(2500, rel=1e-6)  # the bow-tie's lobe over the redline square


def _dense_square(x: float, y: float, size: float, per_side: int = 400) -> shapely.Polygon:
    """A square with ``per_side`` vertices on each side: more than a piece holds, so it is cut."""
    return shapely.segmentize(gk_box(x, y, size), size / per_side)


def test_a_small_feature_across_its_pieces_comes_whole(store):
    """A feature of a few hundred vertices is cut into a few pieces. A probe meeting two or more of them
    is handed the feature whole, once (one clip instead of one per piece and a union); a probe inside
    one piece, that piece. Either way the overlay's areas are shapely's on the whole shapes, and a
    second feature's pieces are not merged into it."""
    zone = shapely.Polygon(_dense_square(0, 0, 4_000, per_side=150).exterior, [gk_box(2_500, 2_500, 200).exterior])
    other = _dense_square(4_000, 0, 4_000, per_side=150)  # its neighbour, sharing an edge
    publish(store, "redline", "eco_redline", [zone, other], [{"name": "小红线"}, {"name": "邻线"}])
    stored = to_lonlat(zone)

    def handed(box) -> list:
        return [p for p in store.candidate_pieces(to_lonlat(box), layers=["redline"]) if p.fid == 0]

    [one] = handed(gk_box(-50, -50, 4_100))  # every piece met: the whole, once
    assert shapely.equals(one.geometry, stored) and shapely.get_num_coordinates(one.geometry) <= 700
    [piece] = handed(gk_box(100, 100, 10))  # inside one piece: that piece
    assert piece.geometry.area < stored.area / 2 and shapely.covers(stored.buffer(1e-9), piece.geometry)
    boxes = [gk_box(1_700, 1_700, 600), gk_box(2_400, 2_400, 400), gk_box(3_800, 1_900, 400),
             gk_box(-200, 3_800, 500), gk_box(100, 100, 10)]
    assert any(len(handed(b)) == 1 and shapely.equals(handed(b)[0].geometry, stored) for b in boxes[:4])
    # inside the zone across its cuts: the whole, cut to the box, fills it, so the clip is the footprint
    [inside] = handed(boxes[0])
    assert shapely.equals(inside.geometry, stored) and boxes[0].within(zone)
    fp = footprint(boxes[0])
    [o] = [o for o in overlay(store, fp).overlaps if o.name == "小红线"]
    assert o.area_m2 == pytest.approx(fp.echo.area_m2_gk, rel=1e-9) and shapely.equals(o.geometry, fp.geometry)
    for box in boxes:
        res = overlay(store, footprint(box))
        got = {o.name: o.area_m2 for o in res.overlaps if o.layer == "redline"}
        assert got["小红线"] == pytest.approx(shapely.intersection(box, zone).area, rel=1e-6)
        if shapely.intersection(box, other).area > 0:
            assert got["邻线"] == pytest.approx(shapely.intersection(box, other).area, rel=1e-6)
        [layer] = [x for x in res.layers if x.layer == "redline"]
        assert layer.area_m2 == pytest.approx(shapely.intersection(box, shapely.union_all([zone, other])).area,
                                              rel=1e-6)


def test_a_footprint_inside_a_zone_across_its_pieces_is_the_whole_footprint(store):
    """A project inside a large zone, across the cut between two of its pieces: its clip is the whole
    footprint, known from the pieces' areas without an overlay. With a hole of the zone under it, or
    reaching out of the zone, it is measured; every case agrees with shapely on the whole shapes."""
    hole = gk_box(6_000, 6_000, 150)
    # 4,800 vertices: cut into more pieces than a feature handed out whole (WHOLE_MAX_PIECES)
    zone = shapely.Polygon(_dense_square(0, 0, 20_000, per_side=1200).exterior, [hole.exterior])
    publish(store, "redline", "eco_redline", [zone], [{"name": "大红线"}])
    pieces = store.candidate_pieces(to_lonlat(gk_box(0, 0, 20_000)), layers=["redline"])
    assert len(pieces) > WHOLE_MAX_PIECES

    def straddling(cx: float, cy: float, size: float) -> shapely.Polygon:
        """The smallest box of about ``size`` m around (cx, cy), grown until two pieces meet it."""
        while True:
            box = gk_box(cx - size / 2, cy - size / 2, size)
            if len(store.candidate_pieces(to_lonlat(box), layers=["redline"])) >= 2:
                return box
            size *= 1.5

    inside = straddling(10_000, 10_000, 300)
    over_hole = straddling(6_075, 6_075, 300)
    out_of_zone = gk_box(19_900, 9_000, 300)
    for box, whole in ((inside, True), (over_hole, False), (out_of_zone, False)):
        fp = footprint(box)
        [o] = [o for o in overlay(store, fp).overlaps if o.layer == "redline"]
        assert o.area_m2 == pytest.approx(shapely.intersection(box, zone).area, rel=1e-6)  # GK ↔ lon/lat
        assert (o.area_m2 == pytest.approx(fp.echo.area_m2_gk, rel=1e-9)) is whole
        if whole:
            assert o.area_m2_ellipsoidal == pytest.approx(fp.echo.area_m2_ellipsoidal, rel=1e-9)
            assert shapely.equals(o.geometry, fp.geometry)
    assert over_hole.contains(hole)


def test_pieces_overlapping_in_the_gk_plane_count_once(store, monkeypatch):
    """A layer cut before the cut lines were densified (still stored, and pinned by re-runs): its pieces'
    GK images overlap by metres along a long parallel cut. A footprint across it is measured by the union
    of its piece clips, never their sum (which gave a share of the footprint over 1)."""
    import app.domain.geometry as geometry
    from tests.geodata import ORIGIN

    real = geometry.cut_long_edges
    monkeypatch.setattr(geometry, "cut_long_edges",
                        lambda geom, max_edge, *, on_lines=None: geom if on_lines is not None else real(geom, max_edge))
    x0, y0 = ORIGIN
    north = [(x, y0 + 40_000) for x in np.linspace(x0 + 20_000, x0, 1200)]  # the north half is cut further
    publish(store, "redline", "eco_redline", [shapely.Polygon([(x0, y0), (x0 + 20_000, y0), *north])], [{}])
    fp = footprint(gk_box(10_000 - 400, 20_000 - 400, 800))
    [o] = [o for o in overlay(store, fp).overlaps if o.layer == "redline"]
    assert o.share_of_footprint <= 1 + 1e-9
    assert o.area_m2 == pytest.approx(fp.echo.area_m2_gk, rel=1e-7)


def test_a_footprint_changed_after_reading_is_measured_as_it_is_now(store):
    """The ingest's GK image of a footprint serves the overlay only while the footprint is the shape it
    was taken of."""
    publish(store, "redline", "eco_redline", [gk_box(0, 0, 100)], [{"name": "红线甲"}])
    fp = footprint(gk_box(50, 0, 100))
    fp.geometry = footprint(gk_box(80, 0, 100)).geometry
    [o] = [o for o in overlay(store, fp).overlaps if o.layer == "redline"]
    assert o.area_m2 == pytest.approx(2000, rel=1e-6)


def test_compare_reports_a_rule_that_now_owes_other_facts():
    from app.screening.service import compare

    def record(missing: list[str]) -> dict:
        return {"verdict": "incomplete", "ruleset_version": "r", "layer_versions": {}, "overlaps": [],
                "findings": [{"rule_id": "t.stack", "feature_ids": [], "verdict": "incomplete",
                              "status": "missing_attribute", "missing": missing}]}

    assert compare(record(["stack_height_m"]), record(["stack_height_m"]))["same"]
    diff = compare(record(["stack_height_m"]), record(["stack_height_m", "voc_emission"]))
    assert not diff["same"] and diff["findings_changed"][0]["after"]["missing"] == ["stack_height_m", "voc_emission"]


def test_a_small_footprint_wholly_inside_a_zone_is_no_sliver_of_it(world):
    """The operator's tolerance is 10 m²; a 3 m × 3 m tower base lies wholly inside the redline. The
    tolerance never exceeds half the footprint's smallest part, so the redline rule fires."""
    sc = screener(world)
    sc.sliver_m2 = 10.0
    rec = run(sc, gk_box(-2500, 100, 3))
    assert fired(rec) == {"t.redline": "prohibited"}
    assert rec["parameters"]["sliver_m2"] == 10.0
    assert rec["parameters"]["sliver_m2_applied"] == pytest.approx(4.5, rel=1e-6)
    # a 0.5 m × 3 m strip of a 100 m × 3 m footprint is still a sliver at 10 m²
    edge = run(sc, gk_box(-2000.5, 0, 100.5, 3))
    assert "t.redline" not in fired(edge) and edge["parameters"]["sliver_m2_applied"] == 10.0


def test_an_area_receptor_sharing_only_an_edge_is_not_touched(store):
    """Sensitive receptors may be points or areas: an area one counts only when it overlaps by more than
    a sliver, like any area feature; a point one when it touches at all."""
    publish(store, "homes", "sensitive_receptor", [gk_box(100, 0, 100), shapely.Point(380_050, 3_270_300)],
            [{"name": "住宅区", "type": "residential"}, {"name": "学校", "type": "school"}])
    result = overlay(store, footprint(gk_box(0, 0, 100)))  # shares the edge x = 100 with the homes
    [home] = [o for o in result.overlaps if o.layer == "homes"]
    assert home.distance_m == 0 and home.area_m2 == 0 and home.polygonal and not result.touches(home)
    assert result.touches(dataclasses.replace(home, area_m2=5.0))
    near = overlay(store, footprint(gk_box(0, 250, 100)))  # the school's point lies inside it
    [school] = [o for o in near.overlaps if o.layer == "homes" and not o.polygonal]
    assert school.distance_m == 0 and school.area_m2 == 0 and near.touches(school)


@pytest.mark.parametrize("grade", ["一级水源", None])
def test_a_feature_value_no_rule_can_judge_is_not_checked_not_passed(store, grade):
    """A water source whose grade is a spelling the catalog does not map (or is missing, which no rule of
    the kind speaks of): the grade-1 rule cannot tell whether it applies, so it is not checked, by name."""
    sc = screener(build_world(store))
    attrs = {"name": "某水源"} if grade is None else {"name": "某水源", "grade": grade}
    publish(store, "water2", "water_source", [gk_box(8000, 0, 500)], [attrs])
    rec = run(sc, gk_box(8100, 100, 100))
    [f] = [f for f in rec["findings"] if f["rule_id"] == "t.water"]
    assert f["status"] == "not_checked" and f["verdict"] == "incomplete" and "某水源" in f["message_zh"]
    assert f["feature_ids"] == ["water2.v1.0"] and rec["verdict"] == "incomplete"
    # a known grade decides as before
    publish(store, "water2", "water_source", [gk_box(8000, 0, 500)], [{"name": "某水源", "grade": "2"}])
    assert "t.water" not in {f["rule_id"] for f in run(sc, gk_box(8100, 100, 100))["findings"]}


def test_an_import_warns_of_enum_values_the_catalog_does_not_know():
    catalog = load_catalog(PROJECT_ROOT / "layers")
    kind = catalog.kind("nature_reserve")
    records = [catalog.map_attributes("nature_reserve", r) for r in
               ({"GNFQ": "试验区"}, {"GNFQ": "外围保护带"}, {"GNFQ": "外围保护带"}, {"GNFQ": None})]
    assert records[0] == {"zone": "experimental"}  # a common variant, mapped
    [warning] = kind.undeclared(records)
    assert "外围保护带" in warning and "2 个要素" in warning and "not one the catalog knows" in warning


@pytest.mark.parametrize("raw,expected", [(0.0, False), (1.0, True), (0, False), ("是", True), (0.5, None)])
def test_true_false_fields_stored_as_reals_are_read(raw, expected):
    """A GeoPackage REAL, a DBF number with decimals or an xlsx cell gives 1.0 / 0.0 for yes / no."""
    catalog = load_catalog(PROJECT_ROOT / "layers")
    attrs = catalog.kind("resource_zone").attributes
    assert attrs["over_cap"].type == "bool"
    assert catalog.map_attributes("resource_zone", {"over_cap": raw}).get("over_cap") == expected


@pytest.mark.parametrize("attrs,verdict,status", [
    ({}, "prohibited", "fired"),
    ({"limited_activity": 3}, "restricted", "fired"),
    ({"limited_activity": 3.0}, "restricted", "fired"),
    ({"limited_activity": "3"}, "incomplete", "missing_attribute"),
    ({"limited_activity": True}, "incomplete", "missing_attribute"),
    ({"national_major_project": 1}, "incomplete", "missing_attribute"),
    ({"national_major_project": True}, "restricted", "fired"),
])
def test_an_exception_fact_in_a_form_it_cannot_judge_is_owed_not_ignored(world, attrs, verdict, status):
    rec = run(screener(world), gk_box(-2500, 100, 100), **attrs)
    [f] = [f for f in rec["findings"] if f["rule_id"] == "t.redline"]
    assert (f["verdict"], f["status"]) == (verdict, status)
    if status == "missing_attribute":
        assert f["missing"] == list(attrs)


def test_an_industry_code_too_coarse_for_a_rule_is_asked_for(world):
    """The shoreline rule concerns chemical projects (C26). A project stated only as section C could be
    one: the rule is incomplete, asking for a finer code; a C13 project is not one; C2614 is."""
    sc = screener(world)
    near = gk_box(2000 - 500 - 100, 0, 100)  # 500 m from the river
    [f] = [f for f in run(sc, near, industry="C")["findings"] if f["rule_id"] == "t.chem_shoreline"]
    assert (f["verdict"], f["status"], f["missing"]) == ("incomplete", "missing_attribute", ["industry"])
    assert "t.chem_shoreline" not in {f["rule_id"] for f in run(sc, near, industry="C13")["findings"]}
    assert fired(run(sc, near, industry="C2614"))["t.chem_shoreline"] == "prohibited"
    # far from the river the rule has nothing to ask
    assert "t.chem_shoreline" not in {f["rule_id"] for f in run(sc, gk_box(-9000, 0, 100), industry="C")["findings"]}


def test_a_rerun_reports_a_feature_moved_nearer_or_farther(world):
    sc = screener(world)
    rec = run(sc, gk_box(2000 - 300 - 100, 0, 100), industry="C13")  # 300 m from the river
    moved = shapely.LineString([(382_650, 3_260_000), (382_650, 3_280_000)])  # now 950 m off
    publish(world, "rivers", "river_shoreline", [moved], [{"name": "岷江", "basin": "长江", "level": "tributary"}])
    diff = sc.rerun(rec["id"], "current")
    [d] = diff["overlap_distances_changed"]
    assert d["before_m"] == pytest.approx(300, abs=1e-6) and d["after_m"] == pytest.approx(950, abs=1e-6)
    assert d["feature_id_before"] == "rivers.v1.0" and d["feature_id"] == "rivers.v2.0" and not diff["same"]
    assert sc.rerun(rec["id"], "recorded")["overlap_distances_changed"] == []


FILTER_RULES = """ruleset: {id: filters, level: national, jurisdiction: "100000", name_zh: 国家（测试）, name_en: National (test)}
rules:
  - id: t.below_target_i
    title_zh: 现状劣于Ⅰ类目标
    title_en: Worse than a class I target
    trigger: {kind: water_function_zone, where: {target_class: [I], current_class: [II, 劣V, 劣Ⅴ类]}}
    verdict: restricted
    message_zh: 从严控制新增排污
    message_en: New discharges strictly controlled
    citation: {document: 测试, clause: 测试, quote: 从严控制, quote_kind: paraphrase}
  - id: t.not_attained
    title_zh: 不达标区
    title_en: Non-attainment zone
    trigger: {kind: element_zone, where: {element: [air], attainment: [false]}}
    verdict: conditional
    message_zh: 倍量替代
    message_en: Offsets
    citation: {document: 测试, clause: 测试, quote: 倍量替代, quote_kind: paraphrase}
  - id: t.chem_outlet
    title_zh: 化工排污口
    title_en: Chemical outlet
    trigger: {kind: water_function_zone}
    applies_to:
      industries: [C26]
      conditions: [{attribute: new_discharge_outlet, op: "==", value: true}]
    verdict: restricted
    message_zh: 化工项目新设排污口受限
    message_en: A chemical project's new outlet is restricted
    citation: {document: 测试, clause: 测试, quote: 新设排污口, quote_kind: paraphrase}
"""


def filter_screener(store, tmp_path) -> Screener:
    rules = tmp_path / "filter_rules"
    rules.mkdir()
    (rules / "filters.yaml").write_text(FILTER_RULES, encoding="utf-8")
    catalog = load_catalog(PROJECT_ROOT / "layers")
    return Screener(store, catalog, load_rulebook(rules, set(catalog.kinds)), load_industries(PROJECT_ROOT / "layers"))


@pytest.mark.parametrize("zone,status", [
    ({"target_class": "II", "current_class": "劣Ⅴ"}, None),  # ruled out by its target, whatever else
    ({"target_class": "II"}, None),  # likewise, its current class unknown
    ({"target_class": "I", "current_class": "劣Ⅴ类"}, "fired"),  # a spelling a rule names itself
    ({"target_class": "I"}, "not_checked"),  # the one value that decides is missing
    ({"target_class": "I", "current_class": "劣五类"}, "not_checked"),  # a spelling nobody knows
])
def test_a_filter_is_open_only_where_no_judgeable_value_rules_the_feature_out(store, tmp_path, zone, status):
    sc = filter_screener(store, tmp_path)
    catalog = load_catalog(PROJECT_ROOT / "layers")
    publish(store, "wfz", "water_function_zone", [gk_box(0, 0, 1000)],
            [catalog.map_attributes("water_function_zone", zone)])
    rec = run(sc, gk_box(100, 100, 100), industry="C13")
    got = {f["rule_id"]: f["status"] for f in rec["findings"]}
    assert got.get("t.below_target_i") == status


@pytest.mark.parametrize("raw,status", [("否", "fired"), ("是", None), ("超标", "not_checked")])
def test_a_yes_no_value_that_could_not_be_read_is_not_checked_and_warned_of(store, tmp_path, raw, status):
    sc = filter_screener(store, tmp_path)
    catalog = load_catalog(PROJECT_ROOT / "layers")
    unread: dict = {}
    attrs = catalog.map_attributes("element_zone", {"YSLX": "air", "SFDB": raw}, unread)
    warnings = catalog.kind("element_zone").undeclared([attrs], unread)
    assert bool(warnings) == (status == "not_checked") and all("超标" in w for w in warnings)
    publish(store, "ez", "element_zone", [gk_box(0, 0, 1000)], [attrs])
    rec = run(sc, gk_box(100, 100, 100), industry="C13")
    assert {f["rule_id"]: f["status"] for f in rec["findings"]}.get("t.not_attained") == status


def test_a_coarse_industry_code_is_not_asked_for_where_a_stated_fact_decides(store, tmp_path):
    sc = filter_screener(store, tmp_path)
    publish(store, "wfz", "water_function_zone", [gk_box(0, 0, 1000)], [{"target_class": "III"}])
    site = gk_box(100, 100, 100)
    assert "t.chem_outlet" not in {f["rule_id"] for f in run(sc, site, industry="C", new_discharge_outlet=False)
                                   ["findings"]}
    [f] = [f for f in run(sc, site, industry="C", new_discharge_outlet=True)["findings"]
           if f["rule_id"] == "t.chem_outlet"]
    assert f["missing"] == ["industry"]


def test_a_record_names_the_catalog_values_it_was_judged_by(world):
    sc = screener(world)
    rec = run(sc, gk_box(-2500, 100, 100))
    assert rec["catalog_version"] == sc.catalog_version and len(rec["catalog_version"]) == 16
    assert sc.rerun(rec["id"], "recorded")["catalog_changed"] is False
    sc._declared["water_source"]["grade"] = frozenset({"1", "2", "quasi", "3"})  # a catalog revised since
    del sc.catalog_version  # (its cached hash)
    assert sc.rerun(rec["id"], "recorded")["catalog_changed"] is True


def test_an_exception_that_applies_is_not_masked_by_another_given_in_a_form_it_cannot_judge(world):
    rec = run(screener(world), gk_box(-2500, 100, 100), national_major_project=True, limited_activity="3")
    [f] = [f for f in rec["findings"] if f["rule_id"] == "t.redline"]
    assert (f["verdict"], f["status"]) == ("restricted", "fired")


def test_a_kept_record_reads_back_as_answered_on_both_stores(world):
    """PostgreSQL's jsonb kept numbers as decimals: 1e16 came back as the integer 10000000000000000 and
    -0.0 as 0.0, so a record read back from the PostGIS store differed from the one answered."""
    odd = {"big": 1e16, "huge": 1e300, "neg_zero": -0.0, "tenth": 0.1, "int": 10**17, "text": "1e16"}
    rec = run(screener(world), gk_box(0, 0, 10), **odd)
    back = world.get_screening(rec["id"])
    got = back["project"]["attributes"]
    assert json.dumps(got, sort_keys=True) == json.dumps(rec["project"]["attributes"], sort_keys=True)
    assert type(got["big"]) is float and type(got["int"]) is int and str(got["neg_zero"]) == "-0.0"
    assert back == rec
