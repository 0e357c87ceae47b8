"""``POST /api/overlay``: a boundary against the current layers, clipped pieces as GeoJSON, on both stores."""

from __future__ import annotations

import json

import pyogrio
import pytest
import shapely

from app.domain.geometry import from_crs
from tests.geodata import gk_box, to_lonlat


def geometry(gk) -> dict:
    return json.loads(shapely.to_geojson(to_lonlat(gk)))


def test_overlay_clips_and_measures_and_gdal_reads_it(client, tmp_path):
    # 1,000 × 400 m, the western half over the redline square: 500 × 400 m inside it
    r = client.post("/api/overlay", json={"geometry": geometry(gk_box(-2500, 200, 1000, 400))})
    assert r.status_code == 200, r.text
    fc = r.json()
    by_layer = {f["properties"]["layer"]: f for f in fc["features"]}
    assert set(by_layer) == {"admin", "redline"}  # no distance asked: only what it touches
    red = by_layer["redline"]["properties"]
    assert red["area_m2"] == pytest.approx(200_000, rel=1e-9) and red["share_of_footprint"] == pytest.approx(0.5)
    assert red["share_of_feature"] == pytest.approx(0.2, rel=1e-4) and red["distance_m"] == 0
    assert red["name"] == "红线甲" and red["version_id"] == "redline.v1" and red["attributes"]["name"] == "红线甲"
    assert by_layer["admin"]["properties"]["area_m2"] == pytest.approx(400_000, rel=1e-9)
    meta = fc["ecoredline"]
    assert meta["footprint"]["gk_epsg"] == 4544 and meta["footprint"]["area_m2_gk"] == pytest.approx(400_000)
    assert {x["layer"]: x["area_m2"] for x in meta["layers"]} == pytest.approx({"admin": 400_000, "redline": 200_000})
    assert meta["layer_versions"]["redline"] == "redline.v1" and meta["distance_m"] == 0
    # a GIS client reads the answer as it is: GDAL's GeoJSON driver, clipped geometry in lon/lat
    path = tmp_path / "overlay.geojson"
    path.write_text(r.text, encoding="utf-8")
    df = pyogrio.read_dataframe(path)
    clipped = df.geometry.values[list(df["layer"]).index("redline")]
    assert shapely.area(from_crs(clipped, 4326, 4544)) == pytest.approx(200_000, rel=1e-6)


def test_overlay_distance_and_layer_filter(client):
    # east edge at x = 1,100 m: 900 m from the river at x = 2,000 m
    body = {"geometry": geometry(gk_box(1000, 0, 100)), "layers": ["rivers"], "buffer_m": 1000}
    fc = client.post("/api/overlay", json=body).json()
    assert [f["properties"]["layer"] for f in fc["features"]] == ["rivers"]
    river = fc["features"][0]
    assert river["geometry"] is None and river["properties"]["area_m2"] == 0
    assert river["properties"]["distance_m"] == pytest.approx(900, abs=0.01)
    assert set(fc["ecoredline"]["layer_versions"]) == {"rivers"}
    fc = client.post("/api/overlay", json={**body, "buffer_m": 899}).json()
    assert fc["features"] == []


def test_overlay_of_an_uploaded_file_with_form_fields(client, tmp_path):
    import geopandas as gpd

    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame({"名称": ["甲", "乙"]}, geometry=[gk_box(0, 5000, 500), gk_box(1000, 5000, 500)],
                     crs=4544).to_file(path, driver="GPKG")
    r = client.post("/api/overlay", files={"file": ("地块.gpkg", path.read_bytes())},
                    data={"layers": "water, redline", "buffer_m": "10"})
    assert r.status_code == 200, r.text
    fc = r.json()
    water = sorted((f["properties"]["name"], round(f["properties"]["area_m2"])) for f in fc["features"]
                   if f["properties"]["layer"] == "water")
    assert water == [("一级区", 250_000), ("二级区", 250_000)]
    assert fc["ecoredline"]["footprint"]["parts"] == 2 and fc["ecoredline"]["footprint"]["input_sha256"]
    assert not [f for f in fc["features"] if f["properties"]["layer"] == "redline"]  # 2.5 km away


@pytest.mark.parametrize("body,status,code", [
    ({"layers": ["redline", "nope"]}, 404, "E_LAYER_NOT_FOUND"),
    ({"layers": "nope"}, 404, "E_LAYER_NOT_FOUND"),
    ({"layers": [1]}, 422, "E_REQUEST_INVALID"),
    ({"layers": {"a": 1}}, 422, "E_REQUEST_INVALID"),
    ({"buffer_m": -1}, 422, "E_REQUEST_INVALID"),
    ({"buffer_m": "abc"}, 422, "E_REQUEST_INVALID"),
    ({"buffer_m": 1e9}, 422, "E_REQUEST_INVALID"),
    ({"buffer_m": [5]}, 422, "E_REQUEST_INVALID"),
])
def test_overlay_refusals(client, body, status, code):
    r = client.post("/api/overlay", json={"geometry": geometry(gk_box(0, 0, 100)), **body})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message_zh"] and err["message_en"]


@pytest.mark.parametrize("content,code", [
    ('{"geometry": {"type": "Polygon", "coordinates": [[[103, 29], [103.1, NaN], [103, 29.1], [103, 29]]]}}',
     "E_REQUEST_INVALID"),
    ('{"geometry": {}}', "E_GEOMETRY_INVALID"),
    ('{"geometry": {"type": "Polygon", "coordinates": [[[10, 50], [10.1, 50], [10, 50.1], [10, 50]]]}}',
     "E_OUTSIDE_CHINA"),
])
def test_overlay_refuses_a_bad_boundary_like_a_screening(client, content, code):
    r = client.post("/api/overlay", content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == code, r.text
