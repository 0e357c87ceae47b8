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
    v1 = publish(store, [gk_box(0, 0, 300), gk_box(20_000, 0, 300)], ["旧", "远"])
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
    from app.tiles.cache import cache_key

    stamp = cache_key(v).rsplit(".", 1)[1]
    assert tj["tiles"] == [f"http://testserver/tiles/redline/{{z}}/{{x}}/{{y}}.mvt?v={v.id}&s={stamp}"]
    r = client.get(tj["tiles"][0].replace("http://testserver", "").format(z=14, x=0, y=0))
    assert r.status_code == 204 and stamp in r.headers["etag"]
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


def wiggly_circle(cx: float, cy: float, r: float, n: int = 4000) -> shapely.Polygon:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = r * (1 + 0.02 * np.sin(40 * a))
    return shapely.Polygon(np.column_stack([cx + rr * np.cos(a), cy + rr * np.sin(a)]))


def vertices(feature: dict) -> int:
    return sum(len(ring) for ring in feature["geometry"]["coordinates"])


def test_low_zooms_read_the_generalised_bands_and_keep_every_feature(client, store):
    from tests.geodata import ORIGIN

    big = wiggly_circle(ORIGIN[0], ORIGIN[1], 5000)
    tiny = gk_box(20_000, 0, 50)  # 50 m: far below one tile unit at z5 (~300 m)
    publish(store, [big, tiny], ["大", "小"])
    counts = {}
    for z in (5, 9, 12):
        x, y = tile_of(big, z)
        r = client.get(f"/tiles/redline/{z}/{x}/{y}.mvt")
        assert r.status_code == 200
        feats = {f["properties"]["name"]: f for f in decode(r.content)}
        counts[z] = vertices(feats["大"])
        if z == 5:
            assert "小" in feats  # kept (at a minimum mapping size), not dropped
    # z5 reads band 5 (one unit at z5 ~ 300 m), z9 band 9, z12 the full 4,000 vertices clipped to the tile
    assert counts[5] < counts[9] < counts[12] and counts[5] < 100, counts


def test_tile_cache_is_keyed_by_version(client, store, tmp_path):
    v1 = publish(store, [gk_box(0, 0, 300), gk_box(20_000, 0, 300)], ["旧", "远"])
    x, y = tile_of(gk_box(0, 0, 300), 14)
    first = client.get(f"/tiles/redline/14/{x}/{y}.mvt")
    again = client.get(f"/tiles/redline/14/{x}/{y}.mvt")
    assert first.headers["x-tile-cache"] == "miss" and again.headers["x-tile-cache"] == "hit"
    assert again.content == first.content
    cached = list((tmp_path / "tiles").glob(f"{v1.id}.*/14/{x}/{y}.mvt"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content
    ex, ey = tile_of(gk_box(10_000, 0, 300), 14)  # inside the layer's extent, between its features
    empty = [client.get(f"/tiles/redline/14/{ex}/{ey}.mvt") for _ in range(2)]
    assert [r.status_code for r in empty] == [204, 204] and empty[1].headers["x-tile-cache"] == "hit"
    # a re-published layer is a new version: its own cache entries, never the old tile
    publish(store, [gk_box(0, 0, 300)], ["新"])
    fresh = client.get(f"/tiles/redline/14/{x}/{y}.mvt")
    assert fresh.headers["x-tile-cache"] == "miss" and [f["properties"]["name"] for f in decode(fresh.content)] == ["新"]
    assert [f["properties"]["name"] for f in decode(client.get(f"/tiles/redline/14/{x}/{y}.mvt",
                                                                params={"v": v1.id}).content)] == ["旧"]


def test_tile_cache_can_be_turned_off(store, tmp_path):
    publish(store, [gk_box(0, 0, 300)], ["甲"])
    settings = Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers", tile_cache=False)
    with TestClient(create_app(settings, store=store)) as c:
        x, y = tile_of(gk_box(0, 0, 300), 14)
        assert c.get(f"/tiles/redline/14/{x}/{y}.mvt").headers["x-tile-cache"] == "off"
    assert not (tmp_path / "tiles").exists()


def test_bands():
    from app.domain.tilebands import BANDS, band_for, generalise

    assert [band_for(z) for z in (0, 5, 6, 7, 8, 9, 10, 11, 12, 22)] == [5, 5, 6, 7, 8, 9, 11, 11, None, None]
    geoms = to_lonlat(np.array([wiggly_circle(380_000, 3_270_000, 3000), gk_box(0, 0, 20)], dtype=object))
    bands = generalise(geoms)
    assert [b.zoom for b in bands] == list(BANDS)
    sizes = [int(shapely.get_num_coordinates(b.geoms).sum()) for b in bands]
    assert sizes == sorted(sizes) and sizes[-1] < 4000
    assert all(list(b.fids) == [0, 1] and shapely.is_valid(b.geoms).all() for b in bands)
    points = to_lonlat(np.array([shapely.Point(380_000, 3_270_000)], dtype=object))
    assert generalise(points) == []


def test_point_layers_show_at_every_zoom(client, store):
    from app.domain.models import ImportReport, LayerData, Provenance

    pts = to_lonlat(np.array([shapely.Point(380_000, 3_270_000), shapely.Point(381_000, 3_270_000)], dtype=object))
    store.publish("receptors", LayerData("sensitive_receptor", pts, [{"name": "学校", "type": "school"},
                                                                    {"name": "医院", "type": "hospital"}],
                                         ImportReport(file_sha256="1" * 64)), Provenance(source_document="测试"))
    c = to_lonlat(shapely.Point(380_000, 3_270_000))
    for z in (3, 5, 9, 14):
        x, y = lonlat_to_tile(c.x, c.y, z)
        r = client.get(f"/tiles/receptors/{z}/{x}/{y}.mvt")
        assert r.status_code == 200, z
        names = {f["properties"]["name"] for f in mapbox_vector_tile.decode(r.content)["receptors"]["features"]}
        assert names == {"学校", "医院"} if z < 14 else "学校" in names


def test_tiles_outside_the_layer_are_empty_without_a_query(client, store):
    publish(store, [gk_box(0, 0, 300)], ["甲"])
    r = client.get("/tiles/redline/10/0/0.mvt")
    assert r.status_code == 204 and r.headers["x-tile-cache"] == "outside"


def test_long_texts_stay_out_of_tiles_and_come_with_the_feature(client, store):
    from app.domain.tilebands import LONG_TEXT

    text = "【空间布局约束】" + "禁止新建化工项目。" * 40
    assert len(text) > LONG_TEXT
    data = LayerData("control_unit", to_lonlat(np.array([gk_box(0, 0, 300)], dtype=object)),
                     [{"code": "ZH51110220001", "name": "单元甲", "category": "key", "spatial_layout": text}],
                     ImportReport(file_sha256="2" * 64))
    v = store.publish("units", data, Provenance(source_document="测试"))
    for z in (8, 14):
        x, y = tile_of(gk_box(0, 0, 300), z)
        props = mapbox_vector_tile.decode(client.get(f"/tiles/units/{z}/{x}/{y}.mvt").content)["units"][
            "features"][0]["properties"]
        assert props["name"] == "单元甲" and props["category"] == "key" and "spatial_layout" not in props
    f = client.get("/api/layers/units/features/0", params={"geometry": "false", "version": v.id}).json()
    assert f["properties"]["spatial_layout"] == text and f["geometry"] is None and f["version"] == v.id
    assert client.get("/api/layers/units/features/0").json()["geometry"]["type"] == "Polygon"
    for bad in ("1", "99999999999", "-1"):
        r = client.get(f"/api/layers/units/features/{bad}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "E_FEATURE_NOT_FOUND", bad
    assert client.get("/api/layers/nope/features/0").json()["error"]["code"] == "E_LAYER_NOT_FOUND"


def _decoded(data: bytes, name: str = "t") -> list[dict]:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})[name]["features"] if data else []


def ring_signs(geometry: dict) -> list[int]:
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    out = []
    for poly in polys:
        for ring in poly:
            xy = np.asarray(ring, dtype=float)
            out.append(int(np.sign(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))))
    return out


def test_our_mvt_encoder_agrees_with_mapbox_vector_tile():
    """The embedded store's vectorised encoder against the reference Python encoder, decoded by it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from app.domain.mvt_encode import encode_layer

    def shapes(seed: int):
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(int(rng.integers(1, 8))):
            cx, cy, r = rng.uniform(-50, 4150), rng.uniform(-50, 4150), rng.uniform(3, 900)
            n = int(rng.integers(6, 40))
            a = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.3 / n, n)  # convex, valid
            ring = np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)])
            kind = rng.integers(0, 5)
            if kind == 0:  # polygon with a hole, given clockwise to test orientation
                hole = np.column_stack([cx + r / 3 * np.cos(a), cy + r / 3 * np.sin(a)])
                out.append(shapely.Polygon(ring[::-1], [hole]))
            elif kind == 1:
                out.append(shapely.MultiPolygon([shapely.Polygon(ring), shapely.box(cx + 2 * r, cy, cx + 3 * r, cy + r)]))
            elif kind == 2:
                out.append(shapely.LineString(ring))
            elif kind == 3:
                out.append(shapely.MultiPoint(ring[:3]))
            else:
                out.append(shapely.Polygon(ring))
        return np.array(out, dtype=object)

    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, 10_000))
    def check(seed):
        geoms = shapes(seed)
        geoms = shapely.set_precision(geoms, 1.0, mode="pointwise")  # both encoders see the same integers
        # snapping can make a small polygon invalid, which the reference repairs and ours writes as given;
        # stored layers are valid (the import repairs them), so only valid shapes are compared
        geoms = geoms[shapely.is_valid(geoms)]
        if len(geoms) == 0:
            return
        props = [{"name": f"甲{i}", "n": i, "x": i / 3, "ok": i % 2 == 0} for i in range(len(geoms))]
        fids = np.arange(len(geoms)) + 100
        ours = _decoded(encode_layer("t", fids, geoms, props))
        ref = _decoded(mapbox_vector_tile.encode(
            [{"name": "t", "features": [{"geometry": g, "properties": p, "id": int(f)}
                                        for g, p, f in zip(geoms, props, fids) if not g.is_empty]}],
            default_options={"y_coord_down": True, "extents": 4096}))
        assert [f["id"] for f in ours] == [f["id"] for f in ref]
        for a, b in zip(ours, ref):
            assert a["properties"] == b["properties"]
            ga, gb = shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"])
            assert ga.geom_type.replace("Multi", "") == gb.geom_type.replace("Multi", "")
            if ga.geom_type.endswith("Polygon"):
                assert abs(ga.area - gb.area) <= 1e-6 * max(gb.area, 1) + 1e-9, (ga.wkt[:200], gb.wkt[:200])
                # ring orientation as written (MVT 2.1: exterior positive by the surveyor's formula)
                assert ring_signs(a["geometry"]) == ring_signs(b["geometry"])
            else:
                assert shapely.equals(ga, gb)

    check()
