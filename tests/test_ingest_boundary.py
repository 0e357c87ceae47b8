"""Boundary files in every format planners hold, read into a footprint with its echo.

Every footprint is built from exact rectangles in the CGCS2000 3° GK zone of 乐山 (CM 105°E), so the
expected GK area is known without the code under test; the ellipsoidal area is checked against an
independent equal-area projection.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from app.domain.errors import EcoError
from app.domain.geometry import from_crs
from app.ingest.boundary import BoundaryOptions, parse_boundary, read_boundary, read_geojson_object
from tests.geodata import GK, ORIGIN, gk_box

PREFIXED = 4523  # the same zone with the zone number in the easting (35,xxx,xxx)
# parcel A: 120 m × 100 m with a 20 m × 20 m hole (11,600 m²); parcel B: 60 m × 50 m (3,000 m²) apart
PARCEL_A = shapely.Polygon(gk_box(0, 0, 120, 100).exterior.coords, [gk_box(40, 40, 20).exterior.coords[::-1]])
PARCEL_B = gk_box(300, 0, 60, 50)
AREA = 11_600.0 + 3_000.0
ALBERS = CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=GRS80 +units=m")


def lonlat_parcels() -> list[shapely.Polygon]:
    return list(from_crs(np.array([PARCEL_A, PARCEL_B], dtype=object), GK))


def equal_area(geom) -> float:
    tr = Transformer.from_crs(4490, ALBERS, always_xy=True)
    dense = shapely.segmentize(geom, 0.0001)
    return shapely.transform(dense, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))).area


def check(fp, *, crs: str, source: str, parts: int = 2, area: float = AREA, rel: float = 1e-4):
    e = fp.echo
    assert (e.crs_detected, e.crs_source, e.parts) == (crs, source, parts)
    assert e.gk_epsg == GK
    assert e.area_m2_gk == pytest.approx(area, rel=rel)
    assert e.area_m2_ellipsoidal == pytest.approx(equal_area(fp.geometry), rel=1e-4)
    assert e.area_m2_ellipsoidal != pytest.approx(e.area_m2_gk, rel=1e-5)  # GK scale distortion is real
    assert fp.geometry.is_valid and 103 < fp.geometry.centroid.x < 104.5


def frame(crs: int = GK) -> gpd.GeoDataFrame:
    df = gpd.GeoDataFrame({"名称": ["地块甲", "地块乙"]}, geometry=[PARCEL_A, PARCEL_B], crs=GK)
    return df.to_crs(crs) if crs != GK else df


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, p.name)
        zf.writestr("__MACOSX/._x.shp", b"junk")
    return buf.getvalue()


def test_zipped_gbk_shapefile_with_gk_prj(tmp_path: Path):
    frame().to_file(tmp_path / "b.shp", encoding="GBK")
    (tmp_path / "b.cpg").unlink()
    fp = read_boundary(zipped(tmp_path), "边界.zip")
    check(fp, crs="EPSG:4544", source="prj")
    assert fp.echo.encoding == "GB18030" and [p.name for p in fp.echo.parcels] == ["地块甲", "地块乙"]
    assert fp.echo.parcels[0].area_m2_gk == pytest.approx(11_600, rel=1e-6)


def test_parse_boundary_is_the_first_half_of_read_boundary(tmp_path: Path):
    """What the ingest benchmark compares with pyogrio: the same parcels and CRS, nothing measured yet, and
    the same refusals before anything is read."""
    frame().to_file(tmp_path / "b.shp", encoding="GBK")
    (tmp_path / "b.cpg").unlink()
    data = zipped(tmp_path)
    parsed, fp = parse_boundary(data, "边界.zip"), read_boundary(data, "边界.zip")
    assert (parsed.crs.detected, parsed.crs.source, parsed.encoding) == ("EPSG:4544", "prj", "GB18030")
    assert [(p.index, p.name, p.attributes) for p in parsed.parcels] == \
        [(p.index, p.name, p.attributes) for p in fp.echo.parcels] == [(1, "地块甲", {"名称": "地块甲"}),
                                                                        (2, "地块乙", {"名称": "地块乙"})]
    assert [p.area_m2_gk for p in parsed.parcels] == [None, None]
    assert [p.name for p in parse_boundary(bytearray(data), "边界.zip").parcels] == ["地块甲", "地块乙"]
    assert shapely.equals(shapely.union_all(parsed.geoms), shapely.union_all([PARCEL_A, PARCEL_B]))
    for call in (parse_boundary, read_boundary):
        with pytest.raises(EcoError) as err:
            call(data, "边界.zip", BoundaryOptions(max_bytes=len(data) - 1))
        assert err.value.code == "E_FILE_TOO_LARGE"


def test_shapefile_without_prj_zone_prefix_inferred(tmp_path: Path):
    frame(PREFIXED).to_file(tmp_path / "b.shp")
    (tmp_path / "b.prj").unlink()
    check(read_boundary(zipped(tmp_path), "b.zip"), crs=f"EPSG:{PREFIXED}", source="prefix")


def test_shapefile_without_prj_or_prefix_needs_zone(tmp_path: Path):
    frame().to_file(tmp_path / "b.shp")
    (tmp_path / "b.prj").unlink()
    data = zipped(tmp_path)
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "b.zip")
    assert ei.value.code == "E_CRS_UNKNOWN"
    check(read_boundary(data, "b.zip", BoundaryOptions(zone=35)), crs="EPSG:4544", source="user")
    check(read_boundary(data, "b.zip", BoundaryOptions(crs="EPSG:4544")), crs="EPSG:4544", source="user")


def test_zip_with_two_shapefiles_needs_a_pick(tmp_path: Path):
    frame().to_file(tmp_path / "a.shp")
    frame().iloc[:1].to_file(tmp_path / "b.shp")
    data = zipped(tmp_path)
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "two.zip")
    assert ei.value.code == "E_ZIP_MULTIPLE"
    check(read_boundary(data, "two.zip", BoundaryOptions(layer="b")), crs="EPSG:4544", source="prj", parts=1,
          area=11_600)


@pytest.mark.parametrize("suffix,driver", [(".geojson", "GeoJSON"), (".kml", "KML"), (".kmz", "LIBKML"),
                                           (".fgb", "FlatGeobuf"), (".gpkg", "GPKG")])
def test_vector_formats(tmp_path: Path, suffix: str, driver: str):
    path = tmp_path / f"b{suffix}"
    frame(4326 if driver in ("GeoJSON", "KML", "LIBKML") else 4490).to_file(path, driver=driver)
    fp = read_boundary(path.read_bytes(), path.name)
    check(fp, crs="EPSG:4326" if driver in ("GeoJSON", "KML", "LIBKML") else "EPSG:4490", source="header")


def test_geojson_in_gk_metres_without_crs_is_inferred(tmp_path: Path):
    # a common mistake: GK coordinates written into GeoJSON, which claims lon/lat
    doc = json.loads(frame(PREFIXED).to_json(drop_id=True))
    doc.pop("crs", None)  # no legacy crs member: RFC 7946 says lon/lat
    fp = read_boundary(json.dumps(doc).encode(), "b.geojson")
    check(fp, crs=f"EPSG:{PREFIXED}", source="prefix")
    assert any("不是经纬度" in w["message_zh"] for w in fp.echo.warnings)


def test_geojson_object_and_gcj02(tmp_path: Path):
    wgs = shapely.union_all(lonlat_parcels())
    fp = read_geojson_object(json.loads(shapely.to_geojson(wgs)))
    check(fp, crs="EPSG:4326", source="header")  # RFC 7946: CRS84, read as CGCS2000 (a null shift)
    # the same shape as a web map (GCJ-02) shows it, declared as such, comes back to the same place
    from app.domain.crs import wgs84_to_gcj02

    gcj = shapely.transform(wgs, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    assert shapely.distance(gcj.centroid, wgs.centroid) > 0.001  # hundreds of metres apart
    back = read_geojson_object(json.loads(shapely.to_geojson(gcj)), BoundaryOptions(gcj02=True))
    assert back.geometry.symmetric_difference(wgs).area < 1e-6 * wgs.area
    assert any(w["code"] == "W_GCJ02" for w in back.echo.warnings)


def write_dxf(path: Path, *, prefixed: bool = True, version: str = "R2010") -> None:
    doc = ezdxf.new(version)
    msp = doc.modelspace()
    doc.layers.add("红线")
    doc.layers.add("标注")
    shift = 35_000_000 if prefixed else 0
    outer = [(x + shift, y) for x, y in PARCEL_A.exterior.coords[:-1]]
    hole = [(x + shift, y) for x, y in PARCEL_A.interiors[0].coords[:-1]]
    msp.add_lwpolyline(outer, close=True, dxfattribs={"layer": "红线"})
    hatch = msp.add_hatch(dxfattribs={"layer": "红线"})
    hatch.paths.add_polyline_path([(x + shift, y) for x, y in PARCEL_B.exterior.coords[:-1]], is_closed=True)
    msp.add_lwpolyline(hole, close=True, dxfattribs={"layer": "标注"})  # a closed shape on another layer
    msp.add_line((outer[0][0], outer[0][1]), (outer[0][0] + 500, outer[0][1]), dxfattribs={"layer": "标注"})
    msp.add_text("地块甲", dxfattribs={"layer": "标注"}).set_placement(outer[0])
    doc.saveas(path)


def test_dxf_closed_polylines_and_hatch_with_zone_prefix(tmp_path: Path):
    write_dxf(tmp_path / "红线.dxf")
    fp = read_boundary((tmp_path / "红线.dxf").read_bytes(), "红线.dxf")
    # the layer picker takes 红线 (two closed shapes), not 标注 (one)
    check(fp, crs=f"EPSG:{PREFIXED}", source="prefix", area=12_000 + 3_000)
    assert fp.echo.parcels[0].attributes["layer"] == "红线"
    assert any(w["code"] == "W_DXF_LAYER" for w in fp.echo.warnings)
    only_label = read_boundary((tmp_path / "红线.dxf").read_bytes(), "红线.dxf", BoundaryOptions(layer="标注"))
    assert only_label.echo.area_m2_gk == pytest.approx(400, rel=1e-6)
    with pytest.raises(EcoError) as ei:
        read_boundary((tmp_path / "红线.dxf").read_bytes(), "红线.dxf", BoundaryOptions(layer="nope"))
    assert ei.value.code == "E_DXF_LAYER_UNKNOWN" and "红线" in ei.value.detail["layers"]


def test_dxf_without_prefix_needs_zone(tmp_path: Path):
    write_dxf(tmp_path / "b.dxf", prefixed=False)
    data = (tmp_path / "b.dxf").read_bytes()
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "b.dxf")
    assert ei.value.code == "E_CRS_UNKNOWN"
    check(read_boundary(data, "b.dxf", BoundaryOptions(zone=35)), crs="EPSG:4544", source="user",
          area=12_000 + 3_000)


def corner_rows() -> pd.DataFrame:
    rows = []
    for name, poly in (("DK01", PARCEL_A), ("DK02", PARCEL_B)):
        rings = [poly.exterior, *poly.interiors]
        for ring_no, ring in enumerate(rings, 1):
            for i, (x, y) in enumerate(ring.coords[:-1]):
                rows.append({"点号": f"J{i + 1}", "地块": name, "圈号": ring_no, "X": y, "Y": x + 35_000_000})
    return pd.DataFrame(rows)


def test_csv_corner_list_gbk(tmp_path: Path):
    data = corner_rows().to_csv(index=False).encode("gb18030")
    fp = read_boundary(data, "界址点.csv")
    check(fp, crs=f"EPSG:{PREFIXED}", source="prefix")
    assert [p.code for p in fp.echo.parcels] == ["DK01", "DK02"] and fp.echo.encoding == "GB18030"


def test_xlsx_corner_list_lonlat(tmp_path: Path):
    rows = []
    for name, poly in zip(("DK01", "DK02"), lonlat_parcels()):
        for ring_no, ring in enumerate([poly.exterior, *poly.interiors], 1):
            for x, y in ring.coords[:-1]:
                rows.append({"地块": name, "圈号": ring_no, "经度": x, "纬度": y})
    path = tmp_path / "corners.xlsx"
    pyogrio.write_dataframe(pd.DataFrame(rows), path, driver="XLSX")
    check(read_boundary(path.read_bytes(), "corners.xlsx"), crs="EPSG:4490", source="header")


def test_lines_need_a_linear_project_and_width(tmp_path: Path):
    line = gpd.GeoDataFrame(geometry=[shapely.LineString([(380_000, 3_270_000), (381_000, 3_270_000)])], crs=GK)
    data = line.to_crs(4326).to_json().encode()
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "road.geojson")
    assert ei.value.code == "E_GEOMETRY_NOT_POLYGON"
    fp = read_boundary(data, "road.geojson", BoundaryOptions(linear=True, row_width_m=30))
    assert fp.echo.area_m2_gk == pytest.approx(1_000 * 30, rel=1e-3)
    assert any(r["code"] == "R_BUFFERED" for r in fp.echo.repairs) and fp.echo.linear
    for width in (0, -5, float("nan"), float("inf"), 1_001):  # refused before reading, by file or as JSON
        for read in (lambda o: read_boundary(data, "road.geojson", o),
                     lambda o: read_geojson_object(json.loads(data), o)):
            with pytest.raises(EcoError) as ei:
                read(BoundaryOptions(linear=True, row_width_m=width))
            assert ei.value.code == "E_REQUEST_INVALID" and ei.value.status == 422, width


@pytest.mark.parametrize("coords", [[(380_000, 3_270_000), (380_000, 3_270_000)], [(380_000, 3_270_000)] * 3])
def test_a_centre_line_of_no_length_is_refused_not_a_server_error(coords):
    line = gpd.GeoDataFrame(geometry=[shapely.LineString(coords)], crs=GK)
    data = line.to_crs(4326).to_json().encode()
    for read in (lambda o: read_boundary(data, "road.geojson", o), lambda o: read_geojson_object(json.loads(data), o)):
        with pytest.raises(EcoError) as ei:
            read(BoundaryOptions(linear=True, row_width_m=10))
        assert ei.value.code == "E_GEOMETRY_DEGENERATE" and ei.value.status == 422


def test_invalid_polygon_repaired_z_dropped_slivers_removed(tmp_path: Path):
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    bowtie = shapely.affinity.translate(bowtie, 380_000, 3_270_000)
    sliver = gk_box(500, 500, 0.5, 0.5)  # 0.25 m²
    z = shapely.force_3d(gk_box(1000, 0, 10), 12.5)
    df = gpd.GeoDataFrame(geometry=[bowtie, sliver, z], crs=GK)
    path = tmp_path / "b.gpkg"
    df.to_file(path)
    fp = read_boundary(path.read_bytes(), "b.gpkg")
    codes = [r["code"] for r in fp.echo.repairs]
    assert "R_MADE_VALID" in codes and "R_Z_DROPPED" in codes and "R_SLIVERS_DROPPED" in codes
    assert fp.echo.area_m2_gk == pytest.approx(5_000 + 100, rel=1e-6) and fp.echo.parts == 3


def test_limits(tmp_path: Path):
    data = frame(4326).to_json().encode()
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "b.geojson", BoundaryOptions(max_bytes=100))
    assert ei.value.code == "E_FILE_TOO_LARGE" and ei.value.status == 413
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "b.geojson", BoundaryOptions(max_parts=1))
    assert ei.value.code == "E_TOO_MANY_PARTS" and ei.value.status == 413
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "b.geojson", BoundaryOptions(max_vertices=8))
    assert ei.value.code == "E_TOO_MANY_VERTICES"


FORMAT_WRITERS = {
    ".geojson": lambda df, p: df.to_crs(4326).to_file(p, driver="GeoJSON"),
    ".kml": lambda df, p: df.to_crs(4326).to_file(p, driver="KML"),
    ".gpkg": lambda df, p: df.to_file(p, driver="GPKG"),
    ".fgb": lambda df, p: df.to_file(p, driver="FlatGeobuf"),
    ".zip": lambda df, p: p.write_bytes(_shp_zip(df, p.parent)),
    ".csv": lambda df, p: p.write_bytes(_corners(df).to_csv(index=False).encode("gb18030")),
}


def _shp_zip(df, folder: Path) -> bytes:
    sub = folder / "shp"
    sub.mkdir(exist_ok=True)
    df.to_file(sub / "b.shp", encoding="GBK")
    return zipped(sub)


def _corners(df) -> pd.DataFrame:
    rows = []
    for i, poly in enumerate(df.geometry):
        for x, y in poly.exterior.coords[:-1]:
            rows.append({"地块": f"DK{i}", "X": y, "Y": x + 35_000_000})
    return pd.DataFrame(rows)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.integers(5, 200), st.sampled_from(sorted(FORMAT_WRITERS)))
def test_random_polygons_round_trip_every_format(tmp_path_factory, seed: int, n: int, suffix: str):
    rng = np.random.default_rng(seed)
    a = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(50, 400, n)
    cx, cy = 380_000 + rng.uniform(-5e3, 2e4), 3_270_000 + rng.uniform(-5e4, 5e4)  # inside zone 35
    poly = shapely.Polygon(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)]))  # star-shaped: simple
    assume(poly.is_valid and poly.area > 10)
    expected = poly.area  # shoelace in the GK plane of the zone the footprint lies in
    tmp = tmp_path_factory.mktemp("rt")
    path = tmp / f"b{suffix}"
    FORMAT_WRITERS[suffix](gpd.GeoDataFrame(geometry=[poly], crs=GK), path)
    fp = read_boundary(path.read_bytes(), path.name)
    assert fp.echo.gk_epsg == GK
    assert fp.echo.area_m2_gk == pytest.approx(expected, rel=1e-4)


def test_xian80_shapefile_is_refused_unless_the_approximation_is_accepted(tmp_path):
    """A .prj in 西安80 has no public parameters to CGCS2000: refused, or read by the ellipsoid alone
    (PROJ's ballpark transformation) when the user accepts a stated ~100 m approximation."""
    gk = shapely.box(500_000, 3_270_000, 500_400, 3_270_300)  # 400 × 300 m in Xian 1980 / GK CM 105E
    gpd.GeoDataFrame({"name": ["地块"]}, geometry=[gk], crs=2380).to_file(tmp_path / "x.shp")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.iterdir():
            z.write(p, p.name)
    with pytest.raises(EcoError) as ei:
        read_boundary(buf.getvalue(), "x.zip", BoundaryOptions())
    assert ei.value.code == "E_CRS_DATUM_UNSUPPORTED" and "accept_datum_approximation" in ei.value.message_en
    fp = read_boundary(buf.getvalue(), "x.zip", BoundaryOptions(accept_datum_approximation=True))
    echo = fp.echo
    assert echo.crs_detected == "EPSG:2380" and echo.crs_source == "prj"
    approx = [w for w in echo.warnings if w["code"] == "W_DATUM_APPROXIMATE"]
    assert approx and "100" in approx[0]["message_en"] and "100" in approx[0]["message_zh"]
    # the ellipsoid change alone keeps the area to well under 0.1 % (Krasovsky/IAU76 vs CGCS2000)
    assert echo.area_m2_gk == pytest.approx(120_000, rel=1e-3)
    # and puts the parcel where the same numbers read as CGCS2000 would, within the stated ~100 m
    same = from_crs(gk, 4544)
    assert shapely.distance(fp.geometry.centroid, same.centroid) * 111_000 < 100


def test_xian80_crs_given_for_a_dxf_is_approximated_with_its_warning(tmp_path):
    doc = ezdxf.new()
    doc.modelspace().add_lwpolyline([(500_000, 3_270_000), (500_400, 3_270_000), (500_400, 3_270_300),
                                     (500_000, 3_270_300)], close=True)
    doc.saveas(tmp_path / "x.dxf")
    data = (tmp_path / "x.dxf").read_bytes()
    with pytest.raises(EcoError) as ei:
        read_boundary(data, "x.dxf", BoundaryOptions(crs="EPSG:2380"))
    assert ei.value.code == "E_CRS_DATUM_UNSUPPORTED"
    fp = read_boundary(data, "x.dxf", BoundaryOptions(crs="EPSG:2380", accept_datum_approximation=True))
    assert fp.echo.crs_source == "user" and any(w["code"] == "W_DATUM_APPROXIMATE" for w in fp.echo.warnings)
    assert fp.echo.area_m2_gk == pytest.approx(120_000, rel=1e-3)


def _gpkg(tmp_path: Path, geoms, epsg: int) -> bytes:
    path = tmp_path / "parcels.gpkg"
    gpd.GeoDataFrame({"名称": [f"宗地{i}" for i in range(len(geoms))]}, geometry=list(geoms), crs=epsg).to_file(
        path, driver="GPKG")
    return path.read_bytes()


@pytest.mark.parametrize("threads", [False, True], ids=["small", "as a big upload, on threads"])
@pytest.mark.parametrize("epsg,shift", [(4544, 0.0), (4523, 35_000_000.0)], ids=["zone 35", "zone 35, prefixed"])
def test_boundaries_shaped_in_their_own_gk_plane_match_the_lonlat_path(tmp_path, monkeypatch, epsg, shift, threads):
    """GK sources of the footprint's own zone are repaired, dissolved and measured in that plane, and
    only the footprint is projected; any other source goes through lon/lat first. Both ways must give
    the same footprint, areas, parcels and repairs — also when, as for a big upload, the footprint is
    projected and its areas measured on threads."""
    import app.domain.geometry as geometry
    import app.ingest.boundary as boundary

    if threads:
        monkeypatch.setattr(boundary, "_PARALLEL_VERTICES", 0)
        monkeypatch.setattr(geometry, "CHUNKED_MIN_VERTICES", 0)

    def at(g):  # GK metres of zone 35 relative to the test origin, with the zone prefix if asked
        return shapely.transform(g, lambda xy: xy + [shift, 0.0])

    tiles = [gk_box(100 * i, 100 * j, 100) for i in range(3) for j in range(3)]  # touching: one part
    bowtie = shapely.transform(shapely.Polygon([(1000, 0), (1100, 100), (1100, 0), (1000, 100)]),
                               lambda xy: xy + ORIGIN)  # made valid
    sliver = gk_box(2000, 0, 0.5, 0.5)  # 0.25 m²: dropped
    overlapping = [gk_box(3000, 0, 200), gk_box(3100, 100, 200)]
    geoms = [at(g) for g in tiles + [bowtie, sliver] + overlapping]
    data = _gpkg(tmp_path, geoms, epsg)
    taken = []
    real = boundary._shape_in_source_plane
    monkeypatch.setattr(boundary, "_shape_in_source_plane", lambda *a: taken.append(1) or real(*a))
    plane = read_boundary(data, "parcels.gpkg")
    assert taken and plane.echo.crs_detected == f"EPSG:{epsg}"
    monkeypatch.setattr(boundary, "_source_plane", lambda src: None)
    lonlat = read_boundary(data, "parcels.gpkg")
    a, b = plane.echo, lonlat.echo
    assert a.gk_epsg == b.gk_epsg == 4544 and a.parts == b.parts == 4
    assert a.area_m2_gk == pytest.approx(b.area_m2_gk, rel=1e-9)
    assert a.area_m2_gk == pytest.approx(9 * 100**2 + 100**2 / 2 + 2 * 200**2 - 100**2, rel=1e-9)
    assert a.area_m2_ellipsoidal == pytest.approx(b.area_m2_ellipsoidal, rel=1e-9)
    assert [p.area_m2_gk for p in a.parcels] == pytest.approx([p.area_m2_gk for p in b.parcels], rel=1e-9, abs=1e-6)
    assert [r["code"] for r in a.repairs] == [r["code"] for r in b.repairs] == ["R_MADE_VALID", "R_SLIVERS_DROPPED"]
    assert [p.name for p in a.parcels] == [p.name for p in b.parcels] == [f"宗地{i}" for i in range(len(geoms))]
    # where edges cross (the dissolve, the repaired bow-tie) the plane path computes the crossing on
    # edges straight in the GK plane, the lon/lat path on edges straight in lon/lat: 0.2 mm apart here
    diff = shapely.symmetric_difference(from_crs(plane.geometry, 4490, 4544), from_crs(lonlat.geometry, 4490, 4544))
    assert diff.area < 0.2  # m², of 165,000
    assert plane.geometry.is_valid



def test_a_gk_source_whose_footprint_lies_in_another_zone_goes_through_lonlat(tmp_path, monkeypatch):
    """Coordinates of the zone-35 plane (CM 105°) for a site at 107.2° E, in zone 36: measured in zone 36."""
    import app.ingest.boundary as boundary

    x, y = Transformer.from_crs(4490, 4544, always_xy=True).transform(107.2, 30.0)
    data = _gpkg(tmp_path, [shapely.box(x, y, x + 300, y + 200)], 4544)
    calls = []
    real = boundary._shape_in_lonlat
    monkeypatch.setattr(boundary, "_shape_in_lonlat", lambda *a: calls.append(1) or real(*a))
    fp = read_boundary(data, "parcels.gpkg")
    assert calls and fp.echo.gk_epsg == 4545
    direct = shapely.area(from_crs(fp.geometry, 4490, 4545))
    assert fp.echo.area_m2_gk == pytest.approx(direct, rel=1e-9)


def test_a_projected_footprint_is_mended_only_when_its_parts_overlap():
    from app.ingest.boundary import _mend_projected

    apart = np.array([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    corner = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)])  # touch at a point: valid
    for parts in (apart, corner):  # kept part for part, not united
        assert shapely.get_parts(_mend_projected(parts)).tolist() == parts.tolist()
    one = shapely.box(0, 0, 1, 1)
    assert _mend_projected(np.array([one])) is one
    overlapping = np.array([shapely.box(0, 0, 1, 1), shapely.box(0.999, 0, 2, 1)])
    assert not shapely.multipolygons(overlapping).is_valid
    mended = _mend_projected(overlapping)
    assert mended.is_valid and mended.area == pytest.approx(2.0) and len(shapely.get_parts(mended)) == 1


def test_a_footprint_that_projects_to_nothing_is_refused(tmp_path, monkeypatch):
    import app.ingest.boundary as boundary

    monkeypatch.setattr(boundary, "_mend_projected", lambda fp: shapely.MultiPolygon())
    with pytest.raises(EcoError) as ei:
        read_boundary(_gpkg(tmp_path, [gk_box(0, 0, 100)], 4544), "parcels.gpkg")
    assert ei.value.code == "E_GEOMETRY_DEGENERATE" and 400 <= ei.value.status < 500


@pytest.mark.parametrize("epsg", [4544, 4507], ids=["own 3° plane", "6° zone, through lon/lat"])
def test_points_added_on_long_edges_do_not_count_against_the_vertex_limit(tmp_path, epsg):
    """A 20 km square has 5 vertices; storing it adds ~400 along its edges. The limit is on what the user
    drew: 5 pass a limit of 10, and 11 drawn are refused."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4490, epsg, always_xy=True).transform(103.8, 29.6)
    square = shapely.box(x, y, x + 20_000, y + 20_000)
    fp = read_boundary(_gpkg(tmp_path, [square], epsg), "parcels.gpkg", BoundaryOptions(max_vertices=10))
    assert shapely.get_num_coordinates(fp.geometry) > 400 and fp.echo.area_m2_gk > 0
    many = shapely.Polygon(shapely.get_coordinates(shapely.segmentize(square, 4_000))[::-1])  # 21 vertices
    with pytest.raises(EcoError) as ei:
        read_boundary(_gpkg(tmp_path, [many], epsg), "parcels.gpkg", BoundaryOptions(max_vertices=10))
    assert ei.value.code == "E_TOO_MANY_VERTICES"


def test_attribute_values_keep_their_meaning(tmp_path: Path):
    """Shapefile/GeoPackage attributes in the echo: dates and times as ISO 8601 text, numbers as numbers,
    gaps (NaN, NaT, null) left out, names in the label."""
    import datetime as dt

    from app.ingest.vector import column_values

    df = gpd.GeoDataFrame({
        "名称": ["甲", None], "面积": [1.5, float("nan")], "编号": [7, 8], "在册": [True, False],
        "日期": pd.to_datetime(["2024-01-02 03:04:05", None]),
    }, geometry=[gk_box(0, 0, 100), gk_box(200, 0, 100)], crs=GK)
    path = tmp_path / "parcels.gpkg"
    df.to_file(path, driver="GPKG")
    fp = read_boundary(path.read_bytes(), "parcels.gpkg")
    first, second = (p.attributes for p in fp.echo.parcels)
    assert first == {"名称": "甲", "面积": 1.5, "编号": 7, "在册": True, "日期": "2024-01-02T03:04:05"}
    assert second == {"编号": 8, "在册": False} and fp.echo.parcels[0].name == "甲" and fp.echo.parcels[1].name is None
    assert column_values(np.array(["2024-01-02", "NaT"], dtype="datetime64[D]")) == ["2024-01-02", None]
    assert column_values(np.array([dt.date(2024, 1, 2), None, float("nan")], dtype=object)) == [dt.date(2024, 1, 2), None, None]


def test_encoding_is_judged_on_the_whole_file():
    """GBK whose first Chinese characters are also valid UTF-8 (水 is CB AE in both), a GBK row far down a
    file, and plain ASCII (a review case: a sample of the file said UTF-8 and the upload was refused)."""
    from app.ingest.encoding import detect_encoding

    assert "水".encode("gbk").decode("utf-8") == "ˮ"  # the trap itself
    rare = b"id,name\n1," + "水".encode("gbk") + b"\n" + b"2,abc\n" * 100_000 + "3,界址点\n".encode("gbk")
    assert detect_encoding(rare) == "GB18030"
    late = b"a" * 3_000_000 + "宗地".encode("gbk")
    assert detect_encoding(late) == "GB18030" and detect_encoding(late.decode("gbk").encode()) == "UTF-8"
    assert detect_encoding(b"plain " * 10) == "UTF-8"


@pytest.mark.parametrize("kind, kine, expected", [
    (["x", "y"], [None, "z"], [{"KIND": "x"}, {"KIND": "z"}]),
    (["x", "y"], ["p", None], [{"KIND": "p"}, {"KIND": "y"}]),
    ([None, "y"], [None, "z"], [{}, {"KIND": "z"}]),
])
def test_a_field_name_given_twice_keeps_its_last_value(tmp_path: Path, kind, kine, expected):
    """GDAL passes a DBF's duplicate field names through (a review case: the second, empty, column's
    None took the first's value away, or failed with a 500)."""
    gpd.GeoDataFrame({"KIND": kind, "KINE": kine}, geometry=[gk_box(0, 0, 50), gk_box(100, 0, 50)],
                     crs=GK).to_file(tmp_path / "b.shp")
    dbf = bytearray((tmp_path / "b.dbf").read_bytes())
    at = dbf.index(b"KINE")
    dbf[at:at + 4] = b"KIND"
    (tmp_path / "b.dbf").write_bytes(bytes(dbf))
    assert [p.attributes for p in read_boundary(zipped(tmp_path), "b.zip").echo.parcels] == expected
