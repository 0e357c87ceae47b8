"""Vector tiles and TileJSON on both stores: decoded with mapbox-vector-tile, versioned, cacheable."""

from __future__ import annotations

from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.domain.models import ImportReport, LayerData, Provenance
from app.domain.mvt import lonlat_to_tile
from app.settings import PROJECT_ROOT, Settings
from tests.conftest import make_store
from tests.geodata import gk_box, to_lonlat


def publish(store, geoms_gk, names, prov=None):
    data = LayerData("eco_redline", to_lonlat(np.array(geoms_gk, dtype=object)),
                     [{"name": n, "redline_type": "水源涵养"} for n in names], ImportReport(file_sha256="0" * 64))
    return store.publish("redline", data, prov or Provenance(source_document="测试方案", doc_number="测〔2024〕1号"))


@pytest.fixture
def client(store, tmp_path: Path):
    with TestClient(create_app(Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers"), store=store)) as c:
        yield c


def tile_of(geom_gk, z: int) -> tuple[int, int]:
    c = to_lonlat(geom_gk).centroid
    return lonlat_to_tile(c.x, c.y, z)


def decode(data: bytes) -> list[dict]:
    return mapbox_vector_tile.decode(data)["redline"]["features"]


def test_tile_holds_the_features_with_their_attributes(client, store):
    publish(store, [gk_box(0, 0, 300), gk_box(5000, 0, 300)], ["甲", "乙"])
    x, y = tile_of(gk_box(0, 0, 300), 14)
    r = client.get(f"/tiles/redline/14/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    feats = decode(r.content)
    assert [f["properties"]["name"] for f in feats] == ["甲"] and feats[0]["id"] == 0
    assert feats[0]["properties"]["redline_type"] == "水源涵养"
    ring = np.array(feats[0]["geometry"]["coordinates"][0])
    assert ring.min() >= -64 and ring.max() <= 4096 + 64
    # ~300 m at z14 (9.5 m per pixel at this latitude, 4096 units per 256 px): about 500 units wide
    assert 350 < ring[:, 0].max() - ring[:, 0].min() < 650
    z5 = client.get(f"/tiles/redline/5/{tile_of(gk_box(0, 0, 300), 5)[0]}/{tile_of(gk_box(0, 0, 300), 5)[1]}.mvt")
    assert z5.status_code == 200 and {f["properties"]["name"] for f in decode(z5.content)} == {"甲", "乙"}


def test_empty_tiles_invalid_tiles_and_unknown_layers(client, store):
    publish(store, [gk_box(0, 0, 300)], ["甲"])
    assert client.get("/tiles/redline/14/0/0.mvt").status_code == 204
    r = client.get("/tiles/redline/30/0/0.mvt")
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_TILE_INVALID"
    assert client.get("/tiles/redline/3/8/0.mvt").status_code == 400
    assert client.get("/tiles/nope/3/0/0.mvt").json()["error"]["code"] == "E_LAYER_NOT_FOUND"


def test_tiles_are_versioned_and_cacheable(client, store):
    v1 = publish(store, [gk_box(0, 0, 300)], ["旧"])
    x, y = tile_of(gk_box(0, 0, 300), 14)
    first = client.get(f"/tiles/redline/14/{x}/{y}.mvt", params={"v": v1.id})
    assert "immutable" in first.headers["cache-control"] and v1.id in first.headers["etag"]
    assert client.get(f"/tiles/redline/14/{x}/{y}.mvt", params={"v": v1.id},
                      headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    v2 = publish(store, [gk_box(0, 0, 300)], ["新"])
    current = client.get(f"/tiles/redline/14/{x}/{y}.mvt")
    assert v2.id in current.headers["etag"] and "max-age=60" in current.headers["cache-control"]
    assert decode(current.content)[0]["properties"]["name"] == "新"
    # the old URL still shows the old version: never a mix
    assert decode(client.get(f"/tiles/redline/14/{x}/{y}.mvt", params={"v": v1.id}).content)[0][
        "properties"]["name"] == "旧"
    assert client.get(f"/tiles/redline/14/{x}/{y}.mvt", params={"v": "other.v1"}).status_code == 404


def test_tilejson(client, store):
    v = publish(store, [gk_box(0, 0, 300), gk_box(5000, 0, 300)], ["甲", "乙"])
    tj = client.get("/tiles/redline/tilejson.json").json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == [f"http://testserver/tiles/redline/{{z}}/{{x}}/{{y}}.mvt?v={v.id}"]
    assert tj["vector_layers"][0]["id"] == "redline" and tj["vector_layers"][0]["fields"]["name"] == "String"
    x0, y0, x1, y1 = tj["bounds"]
    assert 103 < x0 < x1 < 104.5 and 29 < y0 < y1 < 30 and 0 <= tj["minzoom"] < tj["maxzoom"] <= 30
    assert "测〔2024〕1号" in tj["attribution"]


def test_both_stores_draw_the_same_tile(tmp_path, catalog, pg_url):
    geoms = [gk_box(0, 0, 300), gk_box(200, 200, 300), gk_box(2000, 0, 300)]
    out = []
    for which in ("embedded", "postgis"):
        st = make_store(which, tmp_path / which, catalog)
        try:
            publish(st, geoms, ["a", "b", "c"])
            x, y = tile_of(gk_box(0, 0, 300), 13)
            feats = decode(st.tile("redline.v1", 13, x, y, "redline"))
            out.append({f["id"]: (f["properties"]["name"], shapely.geometry.shape(f["geometry"]))
                        for f in feats})
        finally:
            st.close()
    a, b = out
    assert a.keys() == b.keys() == {0, 1, 2}
    for k in a:  # the same features in the same place, to a pixel's worth of quantisation
        (na, ga), (nb, gb) = a[k], b[k]
        assert na == nb and ga.area == pytest.approx(gb.area, rel=0.05)
        assert ga.centroid.distance(gb.centroid) < 2
