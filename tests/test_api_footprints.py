"""``POST /api/footprints/preview``: the echo and the parsed geometry, before any screening."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.test_ingest_boundary import AREA, corner_rows, frame, write_dxf


@pytest.fixture(scope="module")
def client(tmp_path_factory, catalog):
    from app.store.embedded import EmbeddedStore

    tmp = tmp_path_factory.mktemp("fp")
    store = EmbeddedStore(tmp / "s.gpkg", catalog)
    with TestClient(create_app(Settings(data_dir=tmp, layers_dir=PROJECT_ROOT / "layers"), store=store)) as c:
        yield c
    store.close()


def test_preview_of_a_dxf_upload(client, tmp_path: Path):
    write_dxf(tmp_path / "红线.dxf")
    r = client.post("/api/footprints/preview", files={"file": ("红线.dxf", (tmp_path / "红线.dxf").read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    fp = body["footprint"]
    assert fp["crs_detected"] == "EPSG:4523" and fp["crs_source"] == "prefix" and fp["parts"] == 2
    assert fp["area_m2_gk"] == pytest.approx(15_000, rel=1e-4) and fp["file_name"] == "红线.dxf"
    geom = shapely.from_geojson(json.dumps(body["geometry"]))
    assert geom.geom_type == "MultiPolygon" and 103 < geom.centroid.x < 104.5 and 29 < geom.centroid.y < 30


def test_preview_with_zone_option_and_project_attributes(client):
    data = corner_rows().to_csv(index=False).encode()
    r = client.post("/api/footprints/preview", files={"file": ("c.csv", data)},
                    data={"project": json.dumps({"name": "示例", "industry": "C2614", "action": "new"})})
    assert r.status_code == 200, r.text
    assert r.json()["footprint"]["area_m2_gk"] == pytest.approx(AREA, rel=1e-4)


def test_preview_of_json_geometry_with_linear_project(client):
    line = {"type": "LineString", "coordinates": [[103.70, 29.50], [103.71, 29.50]]}
    r = client.post("/api/footprints/preview", json={"geometry": line})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_GEOMETRY_NOT_POLYGON"
    r = client.post("/api/footprints/preview", json={
        "geometry": line, "project": {"attributes": {"linear": True, "row_width_m": 20}}})
    assert r.status_code == 200, r.text
    fp = r.json()["footprint"]
    assert fp["linear"] and fp["row_width_m"] == 20 and fp["area_m2_gk"] == pytest.approx(968 * 20, rel=0.01)


def test_preview_of_zipped_shapefile(client, tmp_path: Path):
    from tests.test_ingest_boundary import zipped

    frame().to_file(tmp_path / "b.shp", encoding="GBK")
    (tmp_path / "b.cpg").unlink()
    r = client.post("/api/footprints/preview", files={"file": ("b.zip", zipped(tmp_path))})
    assert r.status_code == 200, r.text
    fp = r.json()["footprint"]
    assert fp["encoding"] == "GB18030" and [p["name"] for p in fp["parcels"]] == ["地块甲", "地块乙"]


@pytest.mark.parametrize("kwargs,status,code", [
    ({"data": {"crs": "EPSG:4544"}}, 422, "E_FILE_MISSING"),
    ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "E_REQUEST_INVALID"),
    ({"json": {"nogeometry": 1}}, 422, "E_REQUEST_INVALID"),
    ({"json": {"geometry": "nope"}}, 422, "E_GEOMETRY_INVALID"),
    ({"json": {"geometry": {"type": "Point", "coordinates": [103.7, 29.5]}, "project": "{bad"}}, 422,
     "E_PROJECT_INVALID"),
    ({"files": {"file": ("b.txt", b"x")}, "data": {"zone": "abc"}}, 422, "E_REQUEST_INVALID"),
    ({"files": {"file": ("b.csv", b"X,Y\n1,2\n")}, "data": {"zone": "99"}}, 422, "E_ZONE_INVALID"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "E_REQUEST_INVALID"),
    # a CRS that is not text (a review found a list or an object answered 500) or that PROJ cannot read
    ({"json": {"geometry": {"type": "Point", "coordinates": [103.7, 29.5]}, "crs": ["EPSG:4490"]}}, 422,
     "E_CRS_INVALID"),
    ({"json": {"geometry": {"type": "Point", "coordinates": [103.7, 29.5]}, "crs": {"type": "x"}}}, 422,
     "E_CRS_INVALID"),
    ({"json": {"geometry": {"type": "Point", "coordinates": [103.7, 29.5]}, "crs": "EPSG:" + "9" * 5000}}, 422,
     "E_CRS_INVALID"),
])
def test_preview_refusals(client, kwargs, status, code):
    r = client.post("/api/footprints/preview", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_the_operator_sets_the_boundary_limits(tmp_path: Path, catalog):
    """``ECOREDLINE_BOUNDARY_MAX_PARTS``/``_MAX_VERTICES``/``_SLIVER_M2`` reach uploads: the same three
    parcels (one a 0.6 m² sliver) are refused under tight limits, read under the defaults, and the sliver
    kept when the sliver area is set below it."""
    from app.store.embedded import EmbeddedStore

    def square(lon: float, side: float) -> dict:
        d = side / 100_000  # degrees, roughly metres / 1e5
        return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
            [[lon, 29.5], [lon + d, 29.5], [lon + d, 29.5 + d], [lon, 29.5 + d], [lon, 29.5]]]}}

    doc = {"geometry": {"type": "FeatureCollection",
                        "features": [square(103.70, 100), square(103.71, 100), square(103.72, 0.8)]}}
    store = EmbeddedStore(tmp_path / "s.gpkg", catalog)
    try:
        for limits, status, code, parts in (
                ({}, 200, None, 2),
                ({"boundary_max_parts": 2, "boundary_sliver_m2": 0.5}, 413, "E_TOO_MANY_PARTS", None),
                ({"boundary_max_vertices": 14}, 413, "E_TOO_MANY_VERTICES", None),
                ({"boundary_sliver_m2": 0.5}, 200, None, 3)):
            settings = Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers", **limits)
            with TestClient(create_app(settings, store=store)) as c:
                r = c.post("/api/footprints/preview", json=doc)
            assert r.status_code == status, (limits, r.text)
            if code:
                assert r.json()["error"]["code"] == code
            else:
                echo = r.json()["footprint"]
                assert echo["parts"] == parts
                assert ("R_SLIVERS_DROPPED" in [x["code"] for x in echo["repairs"]]) == (parts == 2)
    finally:
        store.close()


def test_crs_texts_are_kept_only_when_short():
    """The parsed-CRS cache keeps a .prj's WKT, not whatever a request posts as its ``crs``."""
    from app.ingest import vector

    before = vector._cached_crs.cache_info().currsize
    assert vector._read_crs("EPSG:4544 " + " " * 5000) is not None  # read, not kept
    assert vector._read_crs(["EPSG:4544"]) is None
    assert vector._cached_crs.cache_info().currsize == before
    assert vector._read_crs("EPSG:4545") is vector._read_crs("EPSG:4545")  # kept


def test_infinite_attribute_values_are_no_values(client, tmp_path: Path):
    """A REAL field holding ±Inf (JSON has no such number) is previewed as absent, like NaN; the writer of
    the API's bodies turns any that remain into null rather than failing."""
    import geopandas as gpd

    from app.api.responses import json_bytes
    from tests.geodata import GK, gk_box

    path = tmp_path / "inf.gpkg"
    gpd.GeoDataFrame({"val": [float("inf"), 1.5, float("nan")]},
                     geometry=[gk_box(0, 0, 100), gk_box(200, 0, 100), gk_box(400, 0, 100)], crs=GK).to_file(path)
    r = client.post("/api/footprints/preview", files={"file": ("inf.gpkg", path.read_bytes())})
    assert r.status_code == 200, r.text
    assert [p["attributes"].get("val") for p in r.json()["footprint"]["parcels"]] == [None, 1.5, None]
    assert json_bytes({"a": [1.0, float("-inf"), {"b": float("nan")}], "名": "甲"}) == \
        '{"a":[1.0,null,{"b":null}],"名":"甲"}'.encode()
