"""HTTP: health, the layer catalog, publishing with an admin key, and the error shape — on both stores."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.geodata import GK, gk_box

KEY = "s3cret-admin-key"


@pytest.fixture
def client(store, tmp_path: Path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# admin keys\n{KEY} 省厅管理员\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path, api_keys_file=keys, layers_dir=PROJECT_ROOT / "layers")
    with TestClient(create_app(settings, store=store)) as c:
        yield c


def geojson_bytes(n: int = 3) -> bytes:
    df = gpd.GeoDataFrame({"名称": [f"红线{i}" for i in range(n)]},
                          geometry=[gk_box(i * 1000, 0, 600) for i in range(n)], crs=GK).to_crs(4326)
    return df.to_json().encode()


def publish(client: TestClient, data: bytes, name: str = "redline.geojson", key: str | None = KEY, **form):
    fields = {"kind": "eco_redline", "source": "测试方案", "number": "测〔2024〕1号", "authority": "测试厅",
              "effective": "2024-01-02", **form}
    headers = {"X-API-Key": key} if key else {}
    return client.post("/api/layers/redline/versions", files={"file": (name, data)}, data=fields, headers=headers)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["message_zh"] and err["message_en"]
    return err


def test_healthz_reports_store(client, store):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["store"] == store.kind and body["layers"] == 0


def test_publish_list_and_history(client):
    r = publish(client, geojson_bytes())
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["id"] == "redline.v1" and v["feature_count"] == 3
    assert v["provenance"]["imported_by"] == "省厅管理员" and v["provenance"]["effective_date"] == "2024-01-02"
    assert v["provenance"]["doc_number"] == "测〔2024〕1号"
    assert len(v["file_sha256"]) == 64 and v["report"]["crs_detected"] in ("EPSG:4326", "EPSG:4490")
    assert publish(client, geojson_bytes(2)).status_code == 201
    layers = client.get("/api/layers").json()["layers"]
    assert [(x["id"], x["current_version"]["id"], x["version_count"]) for x in layers] == [
        ("redline", "redline.v2", 2)]
    assert layers[0]["current_version"]["provenance"]["source_document"] == "测试方案"
    one = client.get("/api/layers/redline").json()
    assert one["kind_spec"]["name_zh"] == "生态保护红线" and one["kind_spec"]["style"]["fill"]
    hist = client.get("/api/layers/redline/versions").json()["versions"]
    assert [h["id"] for h in hist] == ["redline.v1", "redline.v2"]
    assert client.get("/api/layers/redline/versions/redline.v1").json()["feature_count"] == 3
    fc = client.get("/api/layers/redline/features", params={"version": "redline.v1", "limit": 2}).json()
    assert fc["numberMatched"] == 3 and fc["numberReturned"] == 2
    assert fc["features"][0]["properties"]["name"] == "红线0" and fc["features"][0]["geometry"]["type"] == "Polygon"
    g = shapely.geometry.shape(fc["features"][0]["geometry"])
    assert fc["features"][0]["bbox"] == pytest.approx(list(g.bounds), abs=1e-6)
    slim = client.get("/api/layers/redline/features", params={"version": "redline.v1", "geometry": "false"}).json()
    assert all(f["geometry"] is None and len(f["bbox"]) == 4 for f in slim["features"]) and slim["numberMatched"] == 3
    assert client.get("/healthz").json()["layers"] == 1


def test_publish_needs_admin_key(client):
    assert_error(publish(client, geojson_bytes(), key=None), 401, "E_UNAUTHORIZED")
    assert_error(publish(client, geojson_bytes(), key="wrong"), 401, "E_UNAUTHORIZED")
    r = client.post("/api/layers/redline/versions", files={"file": ("a.geojson", geojson_bytes())},
                    data={"kind": "eco_redline"}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 201
    assert client.get("/api/layers").json()["layers"][0]["version_count"] == 1


@pytest.mark.parametrize("name,data,form,status,code", [
    ("a.geojson", b"{broken", {}, 422, "E_FILE_UNREADABLE"),
    ("a.dwg", b"AC1032", {}, 415, "E_FORMAT_UNKNOWN"),
    ("a.zip", b"PK\x03\x04garbage", {}, 422, "E_ZIP_BROKEN"),
    ("a.geojson", None, {"kind": "redlines"}, 422, "E_UNKNOWN_KIND"),
    ("a.geojson", None, {"effective": "not-a-date"}, 422, "E_REQUEST_INVALID"),
])
def test_bad_uploads_are_4xx_and_change_nothing(client, name, data, form, status, code):
    assert publish(client, geojson_bytes()).status_code == 201
    r = publish(client, data if data is not None else geojson_bytes(), name=name, **form)
    assert_error(r, status, code)
    layers = client.get("/api/layers").json()["layers"]
    assert len(layers) == 1 and layers[0]["version_count"] == 1


def test_zip_path_traversal_upload(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    assert_error(publish(client, buf.getvalue(), name="evil.zip"), 422, "E_ZIP_PATH")
    assert client.get("/api/layers").json()["layers"] == []


def test_not_found_shapes(client):
    assert_error(client.get("/api/layers/nope"), 404, "E_LAYER_NOT_FOUND")
    assert_error(client.get("/api/layers/nope/versions"), 404, "E_LAYER_NOT_FOUND")
    assert_error(client.get("/no/such/path"), 404, "E_NOT_FOUND")
    assert_error(client.get("/api/layers/nope/features", params={"bbox": "1,2,3"}), 400, "E_BBOX_INVALID")
    r = publish(client, geojson_bytes())
    assert r.status_code == 201
    assert_error(client.get("/api/layers/redline/versions/other.v1"), 404, "E_VERSION_NOT_FOUND")


def test_features_bbox_filter(client):
    publish(client, geojson_bytes(3))
    box = shapely.box(103.7, 29.5, 103.775, 29.6).bounds
    fc = client.get("/api/layers/redline/features", params={"bbox": ",".join(map(str, box))}).json()
    assert 1 <= fc["numberMatched"] < 3
