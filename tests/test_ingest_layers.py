"""Layer import from real files in every format the agencies hand over."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from app.domain.errors import EcoError
from app.domain.geometry import from_crs, to_storage
from app.ingest.layers import read_layer_file
from tests.geodata import GK, gk_box

NAMES = ["生态保护红线一", "峨眉山—乐山大佛片区", "岷江水源涵养区"]


def frame(crs: int | None = GK, n: int = 3, **cols) -> gpd.GeoDataFrame:
    geoms = [gk_box(i * 1000, 0, 600) for i in range(n)]
    data = {"名称": NAMES[:n], "HXLX": ["水源涵养"] * n, **cols}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=f"EPSG:{crs}" if crs else None)


def expected_lonlat(n: int = 3) -> np.ndarray:
    """The GK squares as stored: edges straight in the GK plane (cut to 200 m for lon/lat)."""
    return to_storage(np.array([gk_box(i * 1000, 0, 600) for i in range(n)], dtype=object), GK)


def assert_same_geoms(got: np.ndarray, want: np.ndarray, tol: float = 1e-7) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.symmetric_difference(w).area <= tol * w.area + 1e-14


def write_shp(df: gpd.GeoDataFrame, folder: Path, name: str = "redline", encoding: str = "UTF-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / f"{name}.shp"
    df.to_file(shp, driver="ESRI Shapefile", encoding=encoding, engine="pyogrio")
    return shp


def zip_dir(folder: Path, out: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return out


def set_ldid(shp: Path, ldid: int) -> None:
    dbf = shp.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[29] = ldid
    dbf.write_bytes(bytes(raw))


def test_gbk_shapefile_without_cpg_is_detected(tmp_path: Path, catalog):
    shp = write_shp(frame(), tmp_path / "src", encoding="GBK")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    set_ldid(shp, 0)  # no language id either: detection must find GB18030
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "生态保护红线一".encode("gbk") in raw  # really GBK on disk
    z = zip_dir(tmp_path / "src", tmp_path / "redline.zip")
    data = read_layer_file(z, "eco_redline", catalog)
    assert [a["name"] for a in data.attributes] == NAMES
    assert data.attributes[0]["redline_type"] == "水源涵养"
    assert data.report.encoding == "GB18030" and data.report.encoding_source == "detected"
    assert data.report.crs_detected == "EPSG:4544" and data.report.crs_source == "prj"


def test_gbk_shapefile_with_language_id(tmp_path: Path, catalog):
    shp = write_shp(frame(), tmp_path / "src", encoding="GBK")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    set_ldid(shp, 0x4D)
    data = read_layer_file(shp, "eco_redline", catalog)
    assert data.report.encoding_source == "ldid" and data.attributes[1]["name"] == NAMES[1]


def test_utf8_shapefile_with_cpg(tmp_path: Path, catalog):
    shp = write_shp(frame(), tmp_path / "src", encoding="UTF-8")
    assert shp.with_suffix(".cpg").exists()
    data = read_layer_file(shp, "eco_redline", catalog)
    assert data.report.encoding_source == "cpg" and data.attributes[2]["name"] == NAMES[2]


def test_encoding_override(tmp_path: Path, catalog):
    shp = write_shp(frame(), tmp_path / "src", encoding="GBK")
    data = read_layer_file(shp, "eco_redline", catalog, encoding="GBK")
    assert data.report.encoding_source == "user" and data.attributes[0]["name"] == NAMES[0]


@pytest.mark.parametrize("epsg", [4544, 4524, 4503])  # 3° CM 105E; 3° zone 36 (prefixed); 6° CM 81E
def test_shapefile_with_gauss_kruger_prj(tmp_path: Path, catalog, epsg: int):
    lonlat = expected_lonlat()
    gk = gpd.GeoSeries(lonlat, crs=4490).to_crs(epsg)
    df = gpd.GeoDataFrame({"名称": NAMES}, geometry=gk.values, crs=epsg)
    shp = write_shp(df, tmp_path / "src")
    assert "Gauss" in shp.with_suffix(".prj").read_text() or "GK" in shp.with_suffix(".prj").read_text()
    data = read_layer_file(zip_dir(tmp_path / "src", tmp_path / "gk.zip"), "eco_redline", catalog)
    assert data.report.crs_source == "prj" and data.report.crs_detected == f"EPSG:{epsg}"
    # the file's edges are straight in its GK plane, and so is what is stored (edges cut to 200 m before
    # the transformation): compared where they were drawn, they agree to a part in a million
    assert_same_geoms(from_crs(data.geometries, 4490, epsg), gk.values, tol=1e-6)
    # and to the squares drawn in zone 35 within 1e-5 (EPSG:4503 is a 6° zone 23° away: its straight
    # lines bend in zone 35 more than in lon/lat)
    assert_same_geoms(data.geometries, lonlat, tol=1e-5)


def test_zone_prefixed_coordinates_without_prj_are_inferred(tmp_path: Path, catalog):
    lonlat = expected_lonlat()
    gk = gpd.GeoSeries(lonlat, crs=4490).to_crs(4523)  # zone 35, easting 35,xxx,xxx
    shp = write_shp(gpd.GeoDataFrame({"名称": NAMES}, geometry=gk.values, crs=None), tmp_path / "src")
    shp.with_suffix(".prj").unlink(missing_ok=True)
    data = read_layer_file(shp, "eco_redline", catalog)
    assert data.report.crs_source == "prefix" and data.report.crs_detected == "EPSG:4523"
    assert_same_geoms(data.geometries, lonlat, tol=1e-6)


def test_swapped_axes_are_detected(tmp_path: Path, catalog):
    lonlat = expected_lonlat()
    gk = gpd.GeoSeries(lonlat, crs=4490).to_crs(4523)
    swapped = shapely.transform(np.asarray(gk.values, dtype=object), lambda xy: xy[:, ::-1])
    fgb = tmp_path / "swapped.fgb"
    with pytest.warns(UserWarning, match="crs"):  # the file truly carries no CRS
        gpd.GeoDataFrame({"名称": NAMES}, geometry=swapped, crs=None).to_file(fgb, driver="FlatGeobuf",
                                                                            SPATIAL_INDEX="NO")
    data = read_layer_file(fgb, "eco_redline", catalog)
    assert data.report.crs_source == "prefix" and any("互换" in w for w in data.report.warnings)
    assert_same_geoms(data.geometries, lonlat, tol=1e-6)


def test_gk_without_zone_needs_a_crs(tmp_path: Path, catalog):
    shp = write_shp(frame(crs=None), tmp_path / "src")
    shp.with_suffix(".prj").unlink(missing_ok=True)
    with pytest.raises(EcoError) as ei:
        read_layer_file(shp, "eco_redline", catalog)
    assert ei.value.code == "E_CRS_UNKNOWN" and 400 <= ei.value.status < 500
    data = read_layer_file(shp, "eco_redline", catalog, crs="EPSG:4544")
    assert data.report.crs_source == "user"
    assert_same_geoms(data.geometries, expected_lonlat(), tol=1e-6)


@pytest.mark.parametrize("epsg", [2383, 2435])  # Xian 1980 and Beijing 1954, 3° GK CM 114E
def test_old_datums_are_refused(tmp_path: Path, catalog, epsg: int):
    shp = write_shp(frame(crs=epsg), tmp_path / "src")
    with pytest.raises(EcoError) as ei:
        read_layer_file(shp, "eco_redline", catalog)
    assert ei.value.code == "E_CRS_DATUM_UNSUPPORTED" and "CGCS2000" in ei.value.message_zh


def test_geopackage_sublayer(tmp_path: Path, catalog):
    gpkg = tmp_path / "zones.gpkg"
    frame().to_file(gpkg, layer="redline", driver="GPKG")
    frame(n=2).to_file(gpkg, layer="reserve", driver="GPKG")
    with pytest.raises(EcoError) as ei:
        read_layer_file(gpkg, "eco_redline", catalog)
    assert ei.value.code == "E_SUBLAYER_REQUIRED" and set(ei.value.detail["layers"]) == {"redline", "reserve"}
    data = read_layer_file(gpkg, "eco_redline", catalog, sublayer="reserve")
    assert len(data.geometries) == 2 and data.report.sublayer == "reserve"
    with pytest.raises(EcoError) as ei:
        read_layer_file(gpkg, "eco_redline", catalog, sublayer="nope")
    assert ei.value.code == "E_SUBLAYER_UNKNOWN"


@pytest.mark.parametrize("suffix,driver", [
    (".geojson", "GeoJSON"), (".kml", "KML"), (".kmz", "LIBKML"), (".fgb", "FlatGeobuf"),
])
def test_lonlat_formats(tmp_path: Path, catalog, suffix: str, driver: str):
    lonlat = expected_lonlat()
    path = tmp_path / f"layer{suffix}"
    crs = 4326 if driver in ("GeoJSON", "KML", "LIBKML") else 4490
    opts = {"SPATIAL_INDEX": "NO"} if driver == "FlatGeobuf" else {}  # keep the feature order
    gpd.GeoDataFrame({"name": NAMES}, geometry=lonlat, crs=crs).to_file(path, driver=driver, **opts)
    if suffix == ".kmz":
        assert zipfile.is_zipfile(path)
    data = read_layer_file(path, "eco_redline", catalog)
    assert [a["name"] for a in data.attributes] == NAMES
    assert_same_geoms(data.geometries, lonlat, tol=1e-6)
    assert data.report.crs_detected in ("EPSG:4326", "EPSG:4490")


def test_filegdb_in_a_zip(tmp_path: Path, catalog):
    gdb = tmp_path / "src" / "zoning.gdb"
    gdb.parent.mkdir()
    frame().to_file(gdb, layer="redline", driver="OpenFileGDB")
    data = read_layer_file(zip_dir(tmp_path / "src", tmp_path / "gdb.zip"), "eco_redline", catalog)
    assert data.report.driver == "OpenFileGDB" and [a["name"] for a in data.attributes] == NAMES
    assert_same_geoms(data.geometries, expected_lonlat(), tol=1e-6)


def test_standard_control_unit_fields_are_mapped(tmp_path: Path, catalog):
    df = frame(n=3)
    df = df.drop(columns=["名称", "HXLX"])
    df["HJZHGKDYBM"] = ["ZH51110210001", "ZH51110220001", "ZH51110230001"]
    df["HJZHGKDYMC"] = ["市中区优先保护单元", "嘉州重点管控单元", "市中区一般管控单元"]
    df["ZHGKDYFL"] = ["优先保护单元", "重点管控单元", "一般管控单元"]
    df["KJBJYS"] = ["禁止新建化工项目"] * 3
    df["PWWPFGK"] = ["倍量替代"] * 3
    df["HJFXFK"] = ["应急预案"] * 3
    df["ZYKFXLYQ"] = ["节水"] * 3
    df["OTHER"] = [1, 2, 3]
    shp = write_shp(df, tmp_path / "src", name="units", encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    data = read_layer_file(shp, "control_unit", catalog)
    a = data.attributes[1]
    assert a["code"] == "ZH51110220001" and a["name"] == "嘉州重点管控单元" and a["category"] == "key"
    assert [x["category"] for x in data.attributes] == ["priority", "key", "general"]
    assert (a["spatial_layout"], a["pollutant_discharge"], a["risk_prevention"], a["resource_efficiency"]) == (
        "禁止新建化工项目", "倍量替代", "应急预案", "节水")
    assert a["OTHER"] == 2  # unknown fields are kept
    assert data.report.field_mapping["HJZHGKDYBM"] == "code"


def test_invalid_geometries_repaired_and_reported(tmp_path: Path, catalog):
    bowtie = shapely.Polygon([(0, 0), (600, 600), (600, 0), (0, 600)])
    bowtie = shapely.affinity.translate(bowtie, 380_000, 3_270_000)
    df = gpd.GeoDataFrame({"名称": ["ok", "bowtie", "empty"]},
                          geometry=[gk_box(0, 0, 100), bowtie, shapely.Polygon()], crs=GK)
    path = tmp_path / "bad.gpkg"
    df.to_file(path, driver="GPKG")
    data = read_layer_file(path, "eco_redline", catalog)
    assert [a["name"] for a in data.attributes] == ["ok", "bowtie"]
    assert all(shapely.is_valid(data.geometries))
    assert data.report.repaired and data.report.repaired[0]["feature"] == 1
    assert "Self-intersection" in data.report.repaired[0]["reason"]
    assert data.report.dropped == [{"feature": 2, "reason_zh": "几何为空", "reason_en": "empty geometry"}]
    # the repaired bowtie keeps both triangles' area
    area_gk = from_crs(data.geometries[1], 4490, GK).area
    assert area_gk == pytest.approx(180_000, rel=1e-6)


def test_points_in_a_polygon_layer_are_dropped_lines_kept_in_line_layer(tmp_path: Path, catalog):
    df = gpd.GeoDataFrame({"名称": ["a", "b"]}, geometry=[gk_box(0, 0, 100), shapely.Point(380_000, 3_270_000)],
                          crs=GK)
    path = tmp_path / "mixed.gpkg"
    df.to_file(path, driver="GPKG")
    data = read_layer_file(path, "eco_redline", catalog)
    assert len(data.geometries) == 1 and data.report.dropped[0]["feature"] == 1
    line = gpd.GeoDataFrame({"名称": ["岷江"]}, geometry=[shapely.LineString([(380_000, 3_270_000),
                                                                           (381_000, 3_275_000)])], crs=GK)
    lpath = tmp_path / "river.geojson"
    line.to_crs(4326).to_file(lpath, driver="GeoJSON")
    assert read_layer_file(lpath, "river_shoreline", catalog).geometries[0].geom_type == "LineString"


def test_zip_with_macosx_and_several_shapefiles(tmp_path: Path, catalog):
    write_shp(frame(), tmp_path / "src", name="redline")
    write_shp(frame(n=2), tmp_path / "src", name="reserve")
    z = zip_dir(tmp_path / "src", tmp_path / "two.zip", extra={"__MACOSX/._redline.shp": b"\x00\x05\x16\x07junk"})
    with pytest.raises(EcoError) as ei:
        read_layer_file(z, "eco_redline", catalog)
    assert ei.value.code == "E_ZIP_MULTIPLE" and sorted(ei.value.detail["candidates"]) == ["redline.shp",
                                                                                          "reserve.shp"]
    assert len(read_layer_file(z, "eco_redline", catalog, sublayer="reserve").geometries) == 2
    shutil.rmtree(tmp_path / "src")
    write_shp(frame(), tmp_path / "src", name="only")
    z = zip_dir(tmp_path / "src", tmp_path / "one.zip", extra={"__MACOSX/._only.shp": b"junk"})
    assert len(read_layer_file(z, "eco_redline", catalog).geometries) == 3


def _zip_with(tmp_path: Path, name: str, data: bytes = b"x") -> Path:
    out = tmp_path / "evil.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, data)
    return out


@pytest.mark.parametrize("maker,code", [
    (lambda t: _zip_with(t, "../../etc/passwd"), "E_ZIP_PATH"),
    (lambda t: _zip_with(t, "/abs/path.shp"), "E_ZIP_PATH"),
    (lambda t: (t / "broken.zip").write_bytes(b"PK\x03\x04 not really") and t / "broken.zip", "E_ZIP_BROKEN"),
    (lambda t: _zip_with(t, "readme.txt"), "E_ZIP_NO_DATA"),
    (lambda t: (t / "x.dwg").write_bytes(b"AC1032") and t / "x.dwg", "E_FORMAT_UNKNOWN"),
    (lambda t: (t / "bad.geojson").write_text("{not json") and t / "bad.geojson", "E_FILE_UNREADABLE"),
])
def test_bad_files_are_refused(tmp_path: Path, catalog, maker, code: str):
    path = maker(tmp_path)
    with pytest.raises(EcoError) as ei:
        read_layer_file(path, "eco_redline", catalog)
    assert ei.value.code == code and 400 <= ei.value.status < 500
    assert ei.value.message_zh and ei.value.message_en
    assert not (tmp_path.parent / "etc" / "passwd").exists()


def test_zip_bomb_is_refused(tmp_path: Path, catalog):
    out = tmp_path / "bomb.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.shp", b"\x00" * 60_000_000)
    with pytest.raises(EcoError) as ei:
        read_layer_file(out, "eco_redline", catalog)
    assert ei.value.code == "E_ZIP_BOMB" and ei.value.status == 413


def test_unknown_kind_is_refused(tmp_path: Path, catalog):
    path = tmp_path / "a.geojson"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(103, 29, 103.1, 29.1)], crs=4326).to_file(path)
    with pytest.raises(EcoError) as ei:
        read_layer_file(path, "redlines", catalog)
    assert ei.value.code == "E_UNKNOWN_KIND" and "eco_redline" in ei.value.detail["known"]


def test_outside_china_is_refused(tmp_path: Path, catalog):
    path = tmp_path / "paris.geojson"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(2.3, 48.8, 2.4, 48.9)], crs=4326).to_file(path)
    with pytest.raises(EcoError) as ei:
        read_layer_file(path, "eco_redline", catalog)
    assert ei.value.code == "E_OUTSIDE_CHINA"


def test_pyogrio_reads_our_fixture_formats():
    assert {"ESRI Shapefile", "GPKG", "LIBKML", "FlatGeobuf", "OpenFileGDB"} <= set(pyogrio.list_drivers())


def test_utf8_dbf_with_wide_fields_and_no_cpg_is_detected_as_utf8(tmp_path: Path, catalog):
    # a field width >= 128 puts a byte >= 0x80 in the DBF header: detection must look at the records only
    df = frame()
    df["备注"] = ["说明" * 70] * 3  # 140 characters: a wide character field
    shp = write_shp(df, tmp_path / "src", encoding="UTF-8")
    shp.with_suffix(".cpg").unlink()
    set_ldid(shp, 0)
    data = read_layer_file(shp, "eco_redline", catalog)
    assert data.report.encoding == "UTF-8" and data.attributes[0]["name"] == NAMES[0]


def test_a_geopackage_of_element_zones_with_real_flags_and_unknown_values(tmp_path: Path, catalog):
    """Yes/no stored as REAL (1.0/0.0) reads as true/false; a value neither the catalog nor its mappings
    know (超标 for a yes/no, 声环境 for an element) is kept out of the rules' reach and warned of."""
    reals = tmp_path / "reals.gpkg"
    frame(n=3, YSLX=["air", "air", "water"], SFDB=[1.0, 0.0, 1.0]).to_file(reals, driver="GPKG")
    assert pyogrio.read_info(reals)["dtypes"][list(pyogrio.read_info(reals)["fields"]).index("SFDB")] == "float64"
    data = read_layer_file(reals, "element_zone", catalog)
    assert [a.get("attainment") for a in data.attributes] == [True, False, True]
    assert not [w for w in data.report.warnings if "not one the catalog knows" in w]
    texts = tmp_path / "texts.gpkg"
    frame(n=3, YSLX=["air", "声环境", "water"], SFDB=["1.0", "否", "超标"]).to_file(texts, driver="GPKG")
    data = read_layer_file(texts, "element_zone", catalog)
    assert [a.get("attainment") for a in data.attributes] == [True, False, None]
    assert [a.get("element") for a in data.attributes] == ["air", "声环境", "water"]
    warned = [w for w in data.report.warnings if "not one the catalog knows" in w]
    assert len(warned) == 2 and any("超标" in w for w in warned) and any("声环境" in w for w in warned)
