"""界址点 coordinate TXT parser: sample files, refusals, CRS and area checks independent of the parser.

Expected areas come from the shoelace formula on the raw numbers written here (or pyproj.Geod for
lon/lat), never from the parser's own code; CRS checks transform with pyproj directly.
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer

from app.domain.errors import InputRefused
from app.ingest.jzd_txt import JzdFile, parse_jzd_txt

DATA = Path(__file__).parent / "data"
GOOD = DATA / "jzd"
BAD = DATA / "bad"

# The §5.2 worked example as (X = northing, Y = easting) pairs, closing points omitted.
P1_OUTER = [(3382345.123, 39567890.456), (3382345.123, 39568010.456), (3382245.123, 39568010.456),
            (3382245.123, 39567890.456)]
P1_HOLE = [(3382305.123, 39567930.456), (3382285.123, 39567930.456), (3382285.123, 39567950.456),
           (3382305.123, 39567950.456)]
P2 = [(3382100.000, 39567900.000), (3382100.000, 39568000.000), (3381980.000, 39567900.000)]
PART2 = [(3382045.123, 39567890.456), (3382045.123, 39567930.456), (3381995.123, 39567930.456)]
LONLAT = [(30.550000, 117.010000), (30.550000, 117.012000), (30.548500, 117.012000), (30.548500, 117.010000)]


def shoelace(pts: list[tuple[float, float]]) -> float:
    """|area| of a ring given as (x, y) pairs, closing point optional (centred for precision)."""
    x0, y0 = pts[0]
    s = 0.0
    for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1]):
        s += (xa - x0) * (yb - y0) - (xb - x0) * (ya - y0)
    return abs(s) / 2


A_P1 = shoelace(P1_OUTER) - shoelace(P1_HOLE)
A_P2 = shoelace(P2)
EXAMPLE = [("Polygon", A_P1, {1: "outer", 2: "hole"}), ("Polygon", A_P2, {1: "outer"})]


def parse_file(name: str, **kw: object) -> JzdFile:
    return parse_jzd_txt((GOOD / name).read_bytes(), **kw)  # type: ignore[arg-type]


def codes(f: JzdFile) -> set[str]:
    return {w.code for w in f.warnings}


# file, kwargs, crs, source, zone, width, prefixed, swapped, encoding, parcels, warning codes
GOOD_CASES = [
    ("example_utf8.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, set()),
    ("example_gbk.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "GB18030", EXAMPLE, set()),
    ("example_bom.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8-SIG", EXAMPLE, set()),
    ("fullwidth_brackets.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_SPACES"}),
    ("no_j_prefix.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, set()),
    ("closing_missing.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_RING_CLOSED"}),
    ("count_wrong.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_POINT_COUNT"}),
    ("swapped_axes.txt", {}, "EPSG:4527", "prefix", 39, 3, True, True, "UTF-8", EXAMPLE, {"W_TXT_AXES_SWAPPED"}),
    ("zone_header.txt", {}, "EPSG:4548", "header", 39, 3, False, False, "UTF-8", EXAMPLE, set()),
    ("zone_user.txt", {"zone": 39}, "EPSG:4548", "user", 39, 3, False, False, "UTF-8", EXAMPLE, set()),
    ("zone6.txt", {}, "EPSG:4498", "prefix", 20, 6, True, False, "UTF-8", EXAMPLE, set()),
    ("area_mismatch.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_AREA_MISMATCH"}),
    ("area_m2.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_AREA_UNIT"}),
    ("ring_part.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8",
     [("MultiPolygon", shoelace(P1_OUTER) + shoelace(PART2), {1: "outer", 2: "part"})], {"W_TXT_RING_PART"}),
    ("extra_fields.txt", {}, "EPSG:4527", "prefix", 39, 3, True, False, "UTF-8",
     [("Polygon", A_P2, {1: "outer"})], {"W_TXT_SPACES"}),
    ("xian80_params.txt", {}, None, "prefix", 39, 3, True, False, "UTF-8", EXAMPLE, {"W_TXT_DATUM_PARAMETERS"}),
    ("xian80_approx.txt", {"accept_datum_approximation": True}, None, "prefix", 39, 3, True, False, "UTF-8",
     EXAMPLE, {"W_TXT_DATUM_APPROXIMATE"}),
]


@pytest.mark.parametrize(
    "name,kw,crs,source,zone,width,prefixed,swapped,encoding,parcels,warns", GOOD_CASES,
    ids=[c[0] for c in GOOD_CASES],
)
def test_good_files(name, kw, crs, source, zone, width, prefixed, swapped, encoding, parcels, warns) -> None:
    f = parse_file(name, **kw)
    if crs is not None:
        assert f.crs == crs
    assert (f.crs_source, f.zone, f.zone_width, f.prefixed, f.swapped, f.encoding) == (
        source, zone, width, prefixed, swapped, encoding)
    assert codes(f) == warns
    assert len(f.parcels) == len(parcels)
    for p, (gtype, area, roles) in zip(f.parcels, parcels):
        assert p.geometry.geom_type == gtype
        assert p.shape_type == "面"
        assert p.ring_roles == roles
        assert p.area_m2 == pytest.approx(area, rel=1e-4)
        assert p.geometry.area == pytest.approx(area, rel=1e-4)
        assert p.geometry.is_valid
    for w in f.warnings:
        assert w.message_zh and w.message_en


def test_worked_example_exact() -> None:
    f = parse_file("example_utf8.txt")
    assert f.crs == "EPSG:4527" and f.crs_source == "prefix" and f.zone == 39
    p1, p2 = f.parcels
    assert p1.area_m2 == pytest.approx(11_600.0, rel=1e-6)
    assert p2.area_m2 == pytest.approx(6_000.0, rel=1e-6)
    assert len(list(p1.geometry.interiors)) == 1
    assert (p1.index, p1.line, p1.declared_points, p1.declared_area_ha) == (1, 13, 10, 1.16)
    assert (p1.code, p1.name, p1.use, p1.sheet, p1.land_class, p1.extra) == (
        "DK01", "示例地块1", "工业用地", None, None, [])
    assert (p2.index, p2.line, p2.code) == (2, 24, "DK02")
    # x = easting with the zone prefix, y = northing
    assert p1.geometry.exterior.coords[0] == (39567890.456, 3382345.123)
    assert f.header["坐标系"] == "2000国家大地坐标系" and f.header["带号"] == "39"
    assert f.warnings == []


def test_worked_example_lands_near_117e_30_5n() -> None:
    """Independent CRS check: pyproj (not the parser) puts the first vertex near 117°E, 30.5°N."""
    lon, lat = Transformer.from_crs(4527, 4490, always_xy=True).transform(39567890.456, 3382345.123)
    assert abs(lon - 117.0) < 1.0 and abs(lat - 30.5) < 0.1
    f = parse_file("example_utf8.txt")
    x, y = f.parcels[0].geometry.exterior.coords[0]
    lon2, lat2 = Transformer.from_crs(CRS.from_user_input(f.crs), 4490, always_xy=True).transform(x, y)
    assert (lon2, lat2) == pytest.approx((lon, lat), abs=1e-9)


@pytest.mark.parametrize("code,name", [(4527, "3-degree Gauss-Kruger zone 39"), (4548, "3-degree Gauss-Kruger CM 117E"),
                                       (4498, "Gauss-Kruger zone 20"), (4523, "3-degree Gauss-Kruger zone 35")])
def test_epsg_codes_used_are_what_pyproj_says(code: int, name: str) -> None:
    assert CRS.from_epsg(code).name == f"CGCS2000 / {name}"


def test_gbk_header_decoded() -> None:
    f = parse_file("example_gbk.txt")
    assert f.header["数据产生单位"] == "某某勘测设计院"
    assert f.parcels[0].name == "示例地块1"


def test_closing_missing_warns_per_ring() -> None:
    f = parse_file("closing_missing.txt")
    closed = [w for w in f.warnings if w.code == "W_TXT_RING_CLOSED"]
    assert [w.line for w in closed] == [13, 13, 22]


def test_point_count_mismatch_keeps_next_parcel() -> None:
    f = parse_file("count_wrong.txt")
    (w,) = f.warnings
    assert w.code == "W_TXT_POINT_COUNT" and w.line == 13 and "7" in w.message_en and "10" in w.message_en
    assert f.parcels[1].code == "DK02" and f.parcels[1].area_m2 == pytest.approx(A_P2, rel=1e-9)


def test_area_warnings_give_numbers() -> None:
    (w,) = parse_file("area_mismatch.txt").warnings
    assert w.line == 13 and "1.3" in w.message_en and "11,600.00" in w.message_en
    unit = parse_file("area_m2.txt").warnings
    assert [w.line for w in unit] == [13, 24] and all("m²" in w.message_en for w in unit)


def test_ring_part_is_reported() -> None:
    f = parse_file("ring_part.txt")
    (w,) = f.warnings
    assert w.code == "W_TXT_RING_PART" and "ring 2" in w.message_en and "圈号 2" in w.message_zh
    assert len(f.parcels[0].geometry.geoms) == 2


def test_extra_fields_and_project_info() -> None:
    f = parse_file("extra_fields.txt")
    p = f.parcels[0]
    assert (p.code, p.use, p.land_class, p.sheet, p.extra) == ("DK09", "工业用地", "0601", None, ["北侧地块"])
    assert f.header["项目信息.项目名称"] == "示例项目"


def test_lonlat_variant() -> None:
    f = parse_file("lonlat.txt")
    assert (f.crs, f.crs_source, f.swapped) == ("EPSG:4490", "guess", False)
    assert codes(f) == {"W_TXT_LONLAT", "W_TXT_NO_HEADER", "W_TXT_CRS_ASSUMED"}
    p = f.parcels[0]
    assert p.geometry.exterior.coords[0] == (117.01, 30.55)  # x = lon, y = lat
    lats, lons = zip(*LONLAT)
    geodesic, _ = Geod(ellps="GRS80").polygon_area_perimeter(lons, lats)
    assert p.area_m2 == pytest.approx(abs(geodesic), rel=1e-4)


def _first_vertex_lonlat(f: JzdFile) -> tuple[float, float]:
    x, y = f.parcels[0].geometry.exterior.coords[0]
    return Transformer.from_crs(CRS.from_user_input(f.crs), 4490, always_xy=True).transform(x, y)


def test_xian80_with_seven_parameters() -> None:
    f = parse_file("xian80_params.txt")
    (w,) = f.warnings
    assert "+towgs84=-15.8,120.5,60.1,0.5,-1.2,2,3.5" in w.message_en and "+ellps=IAU76" in w.message_en
    lon, lat = _first_vertex_lonlat(f)
    # independent: the same chain written as an explicit PROJ pipeline (position-vector Helmert)
    pipe = ("+proj=pipeline +step +inv +proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=39500000 +y_0=0 +ellps=IAU76 "
            "+step +proj=cart +ellps=IAU76 +step +proj=helmert +x=-15.8 +y=120.5 +z=60.1 +rx=0.5 +ry=-1.2 +rz=2 "
            "+s=3.5 +convention=position_vector +step +inv +proj=cart +ellps=GRS80 "
            "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    lon_i, lat_i = Transformer.from_pipeline(pipe).transform(39567890.456, 3382345.123)
    assert (lon, lat) == pytest.approx((lon_i, lat_i), abs=1e-8)
    approx = _first_vertex_lonlat(parse_file("xian80_approx.txt", accept_datum_approximation=True))
    shift_m = Geod(ellps="GRS80").inv(lon, lat, *approx)[2]
    assert 5 < shift_m < 300  # the parameters were applied, not silently dropped


def test_xian80_approximation() -> None:
    f = parse_file("xian80_approx.txt", accept_datum_approximation=True)
    assert "+ellps=IAU76" in f.crs and "+lon_0=117" in f.crs and "+x_0=39500000" in f.crs
    assert "towgs84" not in f.crs
    (w,) = f.warnings
    assert "100" in w.message_zh and "100 m" in w.message_en
    lon, lat = _first_vertex_lonlat(f)
    assert abs(lon - 117.7) < 0.01 and abs(lat - 30.56) < 0.01
    with pytest.raises(InputRefused) as exc:
        parse_file("xian80_approx.txt")  # all-zero parameters are a placeholder, not parameters
    assert exc.value.code == "E_TXT_DATUM"


def test_crs_argument_wins() -> None:
    f = parse_file("zone_header.txt", crs="EPSG:4548")
    assert (f.crs, f.crs_source, f.zone, f.prefixed) == ("EPSG:4548", "user", 39, False)
    assert f.parcels[0].area_m2 == pytest.approx(A_P1, rel=1e-9)
    f = parse_file("swapped_axes.txt", crs="EPSG:4527")
    assert f.swapped and f.parcels[0].geometry.exterior.coords[0] == (39567890.456, 3382345.123)
    with pytest.raises(InputRefused) as exc:
        parse_file("example_utf8.txt", crs="not a crs")
    assert exc.value.code == "E_TXT_CRS_UNKNOWN"


def test_zone_prefix_beats_header() -> None:
    text = (GOOD / "example_utf8.txt").read_text(encoding="utf-8").replace("带号=39", "带号=40")
    f = parse_jzd_txt(text.encode())
    assert f.zone == 39 and f.crs == "EPSG:4527" and codes(f) == {"W_TXT_ZONE_MISMATCH"}


def test_too_many_points_is_413() -> None:
    with pytest.raises(InputRefused) as exc:
        parse_file("example_utf8.txt", max_points=5)
    assert (exc.value.code, exc.value.status, exc.value.detail["line"]) == ("E_TXT_TOO_MANY_POINTS", 413, 19)


def _bad_cases() -> list[tuple[str, str, int]]:
    with open(BAD / "expected_txt.csv", encoding="utf-8", newline="") as fh:
        return [(r["file"], r["code"], int(r["status"])) for r in csv.DictReader(fh)]


BAD_CASES = _bad_cases()


def test_bad_corpus_is_complete() -> None:
    files = {p.name for p in BAD.glob("txt_*.txt")}
    assert files == {f for f, _, _ in BAD_CASES}
    assert len(files) >= 18


@pytest.mark.parametrize("name,code,status", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_files_refused(name: str, code: str, status: int) -> None:
    with pytest.raises(InputRefused) as exc:
        parse_jzd_txt((BAD / name).read_bytes())
    e = exc.value
    assert (e.code, e.status) == (code, status)
    assert e.message_zh.strip() and e.message_en.strip()


@pytest.mark.parametrize("name,line", [
    ("txt_fullwidth_comma.txt", 14), ("txt_bad_line.txt", 16), ("txt_point_before_header.txt", 13),
    ("txt_nan_coordinate.txt", 16), ("txt_text_coordinate.txt", 16), ("txt_degenerate_ring.txt", 13),
    ("txt_collinear_ring.txt", 13), ("txt_header_no_at.txt", 13),
])
def test_refusals_name_the_line(name: str, line: int) -> None:
    with pytest.raises(InputRefused) as exc:
        parse_jzd_txt((BAD / name).read_bytes())
    e = exc.value
    assert e.detail["line"] == line
    assert f"第 {line} 行" in e.message_zh and f"ine {line}" in e.message_en


def test_fullwidth_comma_message() -> None:
    with pytest.raises(InputRefused) as exc:
        parse_jzd_txt((BAD / "txt_fullwidth_comma.txt").read_bytes())
    assert exc.value.message_zh.startswith("第 14 行使用了中文逗号“，”")
    assert exc.value.message_en.startswith("Line 14 uses a full-width comma")


def test_zone_unknown_says_how_to_fix() -> None:
    with pytest.raises(InputRefused) as exc:
        parse_jzd_txt((BAD / "txt_zone_unknown.txt").read_bytes())
    assert "带号" in exc.value.message_zh and "zone" in exc.value.message_en


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_refused_cleanly(data: bytes) -> None:
    try:
        parse_jzd_txt(data)
    except InputRefused as e:
        assert e.message_zh and e.message_en


# ------------------------------------------------------------------ property: write, parse back, same area


def write_txt(parcels: list[list[tuple[str, str]]], *, close: bool, j_prefix: bool) -> str:
    """A minimal writer of the format: each parcel one ring of (X, Y) strings, zone 35 prefixed."""
    out = ["[属性描述]", "坐标系=2000国家大地坐标系", "几度分带=3", "带号=35", "转换参数=,,,,,,", "[地块坐标]"]
    for k, ring in enumerate(parcels, 1):
        rows = ring + ring[:1] if close else ring
        out.append(f"{len(rows)},,DK{k},property,面,,,,@")
        for i, (x, y) in enumerate(rows):
            n = (i % len(ring)) + 1
            out.append(f"{'J' if j_prefix else ''}{n},1,{x},{y}")
    return "\n".join(out) + "\n"


def exact_area(ring: list[tuple[str, str]]) -> float:
    """Exact shoelace over the floats the strings denote (Fraction arithmetic, no rounding)."""
    pts = [(Fraction(float(x)), Fraction(float(y))) for x, y in ring]
    s = sum(xa * yb - xb * ya for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1]))
    return float(abs(s) / 2)


@st.composite
def star_ring(draw: st.DrawFn) -> list[tuple[str, str]]:
    n = draw(st.integers(3, 30))
    gaps = draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n))
    radii = draw(st.lists(st.floats(10.0, 5000.0), min_size=n, max_size=n))
    cx = draw(st.floats(2_500_000.0, 5_000_000.0))  # northing
    cy = draw(st.floats(35_300_000.0, 35_700_000.0))  # easting, zone 35 prefix
    total = sum(gaps)
    angles, a = [], 0.0
    for g in gaps:
        angles.append(a)
        a += 2 * math.pi * g / total
    return [(f"{cx + r * math.sin(t):.3f}", f"{cy + r * math.cos(t):.3f}") for t, r in zip(angles, radii)]


@settings(max_examples=60, deadline=None)
@given(st.lists(star_ring(), min_size=1, max_size=3), st.booleans(), st.booleans())
def test_written_star_polygons_round_trip(rings: list[list[tuple[str, str]]], close: bool, j_prefix: bool) -> None:
    f = parse_jzd_txt(write_txt(rings, close=close, j_prefix=j_prefix).encode())
    assert f.crs == "EPSG:4523" and f.zone == 35 and f.crs_source == "prefix"
    assert len(f.parcels) == len(rings)
    for p, ring in zip(f.parcels, rings):
        assert p.area_m2 == pytest.approx(exact_area(ring), rel=1e-9)
        assert p.geometry.exterior.coords[0] == (float(ring[0][1]), float(ring[0][0]))
    assert ("W_TXT_RING_CLOSED" in codes(f)) == (not close)
