"""The ``ecoredline`` command as a user runs it: import, list, refusals, and the demo server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import httpx
import pytest

from app.settings import Settings
from tests.conftest import reset_postgis
from tests.geodata import GK, gk_box

ECOREDLINE = str(Path(sys.executable).with_name("ecoredline"))


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ECOREDLINE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def cli_env(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOREDLINE_")}
    env["ECOREDLINE_DATA_DIR"] = str(tmp_path / "data")
    if database_url:
        env["ECOREDLINE_DATABASE_URL"] = database_url
    return env


@pytest.fixture
def env(store_kind: str, tmp_path: Path) -> dict[str, str]:
    if store_kind == "postgis":
        url = os.environ["ECOREDLINE_TEST_DATABASE_URL"]
        reset_postgis(url)
        return cli_env(tmp_path, url)
    return cli_env(tmp_path)


def test_import_and_list(env, tmp_path: Path, store_kind: str):
    shp_dir = tmp_path / "src"
    shp_dir.mkdir()
    gpd.GeoDataFrame({"HJZHGKDYBM": ["ZH51110210001"], "HJZHGKDYMC": ["市中区优先保护单元"],
                      "ZHGKDYFL": ["优先保护单元"]}, geometry=[gk_box(0, 0, 800)], crs=GK).to_file(
        shp_dir / "units.shp", encoding="GBK")
    (shp_dir / "units.cpg").unlink()
    r = run(["layers", "import", str(shp_dir / "units.shp"), "--layer", "control_unit", "--kind", "control_unit",
             "--source", "乐山市生态环境分区管控方案", "--number", "乐府发〔2021〕5号", "--effective", "2021-06-30"], env)
    assert r.returncode == 0, r.stderr
    assert "published control_unit.v1: 1 features" in r.stdout and "EPSG:4544 (prj)" in r.stdout
    r = run(["layers", "list", "--json"], env)
    assert r.returncode == 0, r.stderr
    (layer,) = json.loads(r.stdout)
    cur = layer["current_version"]
    assert layer["id"] == "control_unit" and cur["provenance"]["doc_number"] == "乐府发〔2021〕5号"
    assert cur["provenance"]["effective_date"] == "2021-06-30" and cur["report"]["encoding_source"] == "detected"
    r = run(["layers", "list"], env)
    assert "control_unit.v1" in r.stdout and "乐山市生态环境分区管控方案" in r.stdout


def test_refused_import_exits_2_and_writes_nothing(env, tmp_path: Path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    r = run(["layers", "import", str(bad), "--layer", "eco_redline", "--kind", "eco_redline"], env)
    assert r.returncode == 2 and "E_FILE_UNREADABLE" in r.stderr and "无法读取文件" in r.stderr
    r = run(["layers", "import", str(bad), "--layer", "eco_redline", "--kind", "redlines"], env)
    assert r.returncode == 2 and "E_UNKNOWN_KIND" in r.stderr
    r = run(["layers", "list", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_layers_of_every_kind_with_provenance(env, catalog):
    port = free_port()
    proc = subprocess.Popen([ECOREDLINE, "demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"ecoredline demo exited: {proc.stdout.read()}")
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert health is not None, "demo server did not answer /healthz"
        assert health["status"] == "ok" and health["kinds"] >= 12
        layers = httpx.get(f"{base}/api/layers", timeout=10).json()["layers"]
        kinds = {layer["kind"] for layer in layers}
        assert kinds == set(catalog.kinds), kinds ^ set(catalog.kinds)
        for layer in layers:
            prov = layer["current_version"]["provenance"]
            assert prov["source_document"] == "示意数据（非官方边界）", layer["id"]
            assert layer["current_version"]["feature_count"] > 0
        codes = {r["properties"]["code"] for r in httpx.get(
            f"{base}/api/layers/admin_region/features", timeout=10).json()["features"]}
        assert {"510000", "511100", "511102", "513200", "513300"} <= codes
    finally:
        proc.terminate()
        proc.wait(30)


def test_overlay_command(env, tmp_path: Path):
    """``ecoredline overlay``: the clipped pieces of a boundary, as a table, as GeoJSON on stdout or in a
    file GDAL reads; bad layers or buffers refused with exit 2 and both languages; nothing kept."""
    import pyogrio
    import shapely

    from app.domain.geometry import from_crs

    src = tmp_path / "redline.gpkg"
    gpd.GeoDataFrame({"名称": ["红线甲"]}, geometry=[gk_box(0, 0, 1000)], crs=GK).to_file(src, driver="GPKG")
    r = run(["layers", "import", str(src), "--layer", "redline", "--kind", "eco_redline"], env)
    assert r.returncode == 0, r.stderr
    boundary = tmp_path / "boundary.gpkg"
    gpd.GeoDataFrame({"名称": ["地块"]}, geometry=[gk_box(500, 500, 1000)], crs=GK).to_file(boundary, driver="GPKG")
    r = run(["overlay", str(boundary)], env)
    assert r.returncode == 0, r.stderr
    assert "redline.v1.0" in r.stdout and "250,000.0 m²" in r.stdout and "25.00%" in r.stdout
    out = tmp_path / "pieces.geojson"
    r = run(["overlay", str(boundary), "--layers", "redline", "--buffer-m", "100", "--out", str(out), "--json"], env)
    assert r.returncode == 0, r.stderr
    fc = json.loads(r.stdout)
    [feat] = fc["features"]
    assert feat["properties"]["area_m2"] == pytest.approx(250_000, rel=1e-9)
    assert fc["ecoredline"]["distance_m"] == 100 and json.loads(out.read_text(encoding="utf-8")) == fc
    df = pyogrio.read_dataframe(out)  # GDAL reads the file as written
    assert list(df["layer"]) == ["redline"]
    assert shapely.area(from_crs(df.geometry.values[0], 4326, GK)) == pytest.approx(250_000, rel=1e-6)
    for args, code in ((["--layers", "nope"], "E_LAYER_NOT_FOUND"), (["--buffer-m", "-5"], "E_REQUEST_INVALID")):
        r = run(["overlay", str(boundary), *args], env)
        assert r.returncode == 2 and f"错误 {code}" in r.stderr and f"Error {code}" in r.stderr


def test_overlay_and_screen_read_lines_with_a_right_of_way(env, tmp_path: Path):
    """A linear project drawn as its centre line: ``--row-width-m`` buffers it (both commands), a width
    out of range is refused with exit 2, and without one the line is refused as not an area."""
    import shapely

    src = tmp_path / "redline.gpkg"
    gpd.GeoDataFrame({"名称": ["红线甲"]}, geometry=[gk_box(0, 0, 1000)], crs=GK).to_file(src, driver="GPKG")
    assert run(["layers", "import", str(src), "--layer", "redline", "--kind", "eco_redline"], env).returncode == 0
    x0, y0 = gk_box(0, 0, 1).bounds[:2]
    road = tmp_path / "road.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.LineString([(x0 - 500, y0 + 500), (x0 + 500, y0 + 500)])],
                     crs=GK).to_file(road, driver="GPKG")
    r = run(["overlay", str(road), "--row-width-m", "20", "--json"], env)
    assert r.returncode == 0, r.stderr
    fc = json.loads(r.stdout)
    assert fc["ecoredline"]["footprint"]["row_width_m"] == 20
    [feat] = fc["features"]
    assert feat["properties"]["area_m2"] == pytest.approx(500 * 20, rel=1e-6)  # the half inside the redline
    r = run(["screen", str(road), "--industry", "E4812", "--action", "new", "--row-width-m", "20", "--json"], env)
    record = json.loads(r.stdout)
    assert record["footprint"]["linear"] and record["footprint"]["area_m2_gk"] == pytest.approx(1000 * 20, rel=1e-6)
    assert record["project"]["attributes"]["row_width_m"] == 20  # the record says what it was buffered by
    r = run(["screen", str(road), "--industry", "E4812", "--action", "new", "--row-width-m", "20",
             "--attr", "row_width_m=30"], env)
    assert r.returncode == 2 and "E_REQUEST_INVALID" in r.stderr
    for args, code in (([], "E_GEOMETRY_NOT_POLYGON"), (["--row-width-m", "0"], "E_REQUEST_INVALID")):
        r = run(["overlay", str(road), *args], env)
        assert r.returncode == 2 and f"错误 {code}" in r.stderr and f"Error {code}" in r.stderr, r.stderr


def test_the_boundary_limits_come_from_the_environment(tmp_path: Path):
    """``ECOREDLINE_BOUNDARY_MAX_VERTICES`` reaches ``ecoredline overlay`` and ``screen``: refused with
    exit 2 under it, read without it."""
    src = tmp_path / "site.gpkg"
    gpd.GeoDataFrame(geometry=[gk_box(0, 0, 100), gk_box(500, 0, 100)], crs=GK).to_file(src, driver="GPKG")
    env = cli_env(tmp_path)
    tight = {**env, "ECOREDLINE_BOUNDARY_MAX_VERTICES": "9"}
    for args in (["overlay", str(src)], ["screen", str(src), "--industry", "C2614", "--action", "new"]):
        r = run(args, tight)
        assert r.returncode == 2 and "E_TOO_MANY_VERTICES" in r.stderr, r.stderr
        assert run(args, env).returncode in (0, 3, 4, 5), args  # read (3–5: verdicts other than allowed)


def _boundary(**kw):
    return {"crs": None, "zone": None, "layer": None, "encoding": None, "gcj02": False,
            "accept_datum_approximation": False, "row_width_m": None, **kw}


@pytest.mark.parametrize("said,linear", [("no", False), ("False", False), ("0", False), (False, False),
                                         ("yes", True), (True, True), ("true", True), (1, True)])
def test_the_cli_reads_linear_as_the_api_does(said, linear):
    from app.cli import _read_options
    from app.ingest.boundary import read_flag

    assert _read_options(Settings(), _boundary(), {"linear": said, "row_width_m": 10}).linear is linear
    assert read_flag(said) is linear


def test_cli_attribute_values_past_pythons_digit_limit_are_kept_as_text():
    from app.cli import _attr

    assert _attr(("big=" + "9" * 5000, "n=3", "t=是")) == {"big": "9" * 5000, "n": 3, "t": "是"}


def test_a_non_finite_right_of_way_says_so():
    from app.cli import _read_options
    from app.domain.errors import InputRefused

    with pytest.raises(InputRefused) as ei:
        _read_options(Settings(), _boundary(row_width_m=float("nan")), {})
    assert ei.value.code == "E_REQUEST_INVALID" and "finite" in ei.value.message_en
