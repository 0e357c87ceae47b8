"""Every boundary format read the same way through all three doors: the preview endpoint,
``POST /api/screenings`` and ``ecoredline screen --json``.

The readers are shared, but a user judges us by what each door says: the CRS found and how, the
parts and the area must agree to the last digit whichever one they use.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.test_cli import ECOREDLINE, cli_env
from tests.test_ingest_boundary import corner_rows, frame, write_dxf, zipped

JZD = Path(__file__).parent / "data" / "jzd"


def _write(tmp: Path, fmt: str) -> tuple[str, bytes]:
    """One boundary file per format (parcels of 11,600 m² and 3,000 m² near 乐山, or the §5.2 TXT example)."""
    if fmt == "txt":
        return "界址点.txt", (JZD / "example_gbk.txt").read_bytes()
    if fmt == "zip":
        folder = tmp / "shp"
        folder.mkdir()
        frame().to_file(folder / "b.shp", encoding="GBK")
        (folder / "b.cpg").unlink()
        return "边界.zip", zipped(folder)
    if fmt == "dxf":
        write_dxf(tmp / "b.dxf")
        return "红线.dxf", (tmp / "b.dxf").read_bytes()
    if fmt == "csv":
        return "界址点.csv", corner_rows().to_csv(index=False).encode("gb18030")
    if fmt == "xlsx":
        pyogrio.write_dataframe(corner_rows(), tmp / "c.xlsx", driver="XLSX")
        return "界址点.xlsx", (tmp / "c.xlsx").read_bytes()
    driver = {"geojson": "GeoJSON", "kml": "KML", "kmz": "LIBKML", "gpkg": "GPKG", "fgb": "FlatGeobuf"}[fmt]
    df: gpd.GeoDataFrame = frame(4326 if fmt in ("geojson", "kml", "kmz") else 4490)
    df.to_file(tmp / f"b.{fmt}", driver=driver)
    return f"边界.{fmt}", (tmp / f"b.{fmt}").read_bytes()


FORMATS = ["txt", "zip", "dxf", "kml", "kmz", "geojson", "gpkg", "fgb", "csv", "xlsx"]
PROJECT = {"name": "格式测试", "industry": "N7712", "action": "new", "attributes": {}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, catalog):
    from app.store.embedded import EmbeddedStore

    tmp = tmp_path_factory.mktemp("doors")
    settings = Settings(data_dir=tmp / "data", layers_dir=PROJECT_ROOT / "layers")
    (tmp / "data").mkdir()
    store = EmbeddedStore(tmp / "data" / "ecoredline.gpkg", catalog, settings)
    with TestClient(create_app(settings, store=store)) as client:
        yield client, tmp
    store.close()


def _echo_key(echo: dict) -> tuple:
    return (echo["crs_detected"], echo["crs_source"], echo["parts"], round(echo["area_m2_gk"], 6),
            round(echo["area_m2_ellipsoidal"], 6), echo["input_sha256"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_three_doors_agree(setup, fmt: str, tmp_path: Path):
    client, base = setup
    name, data = _write(tmp_path, fmt)
    preview = client.post("/api/footprints/preview", files={"file": (name, data)})
    assert preview.status_code == 200, preview.text
    screened = client.post("/api/screenings", files={"file": (name, data)}, data={"project": json.dumps(PROJECT)})
    assert screened.status_code == 201, screened.text
    path = tmp_path / name
    path.write_bytes(data)
    env = cli_env(base)
    r = subprocess.run([ECOREDLINE, "screen", str(path), "--industry", "N7712", "--action", "new", "--json"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 5), r.stderr  # no layers are loaded: rules with layers are not checked
    cli = json.loads(r.stdout)["footprint"]
    echoes = [preview.json()["footprint"], screened.json()["footprint"], cli]
    assert _echo_key(echoes[0]) == _echo_key(echoes[1]) == _echo_key(echoes[2])
    e = echoes[0]
    assert e["crs_source"] in ("header", "prefix", "prj") and e["parts"] >= 1 and e["area_m2_gk"] > 1000
    assert e["file_name"] == name
