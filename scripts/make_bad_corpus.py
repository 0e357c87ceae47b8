"""Write the bad-boundary corpus (non-TXT part) into tests/data/bad/ and its expected codes.

    python scripts/make_bad_corpus.py

Deterministic; the files are committed. The 界址点 TXT cases (txt_*) are written by hand and listed in
tests/data/bad/expected_txt.csv; this script writes expected_files.csv for the rest.
"""

from __future__ import annotations

import csv
import io
import json
import stat
import sys
import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "bad"
GK = 4544  # CGCS2000 3° GK CM 105°E
BOX = shapely.box(380_000, 3_270_000, 380_120, 3_270_100)


def zbytes(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def shp_zip(df: gpd.GeoDataFrame, tmp: Path, name: str = "b", drop: tuple[str, ...] = ()) -> bytes:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    df.to_file(folder / f"{name}.shp")
    for ext in drop:
        (folder / f"{name}{ext}").unlink()
    return zbytes({p.name: p.read_bytes() for p in sorted(folder.iterdir())})


def geojson(geom, crs_member: bool = False) -> bytes:
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": {}, "geometry": json.loads(shapely.to_geojson(geom))}]}
    return json.dumps(doc).encode()


def dxf_bytes(tmp: Path, build) -> bytes:
    doc = ezdxf.new("R2010")
    build(doc.modelspace())
    path = tmp / "x.dxf"
    doc.saveas(path)
    return path.read_bytes()


def main() -> None:
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    lonlat = gpd.GeoDataFrame(geometry=[BOX], crs=GK).to_crs(4326)
    two_shp = tmp / "two"
    two_shp.mkdir()
    gpd.GeoDataFrame(geometry=[BOX], crs=GK).to_file(two_shp / "a.shp")
    gpd.GeoDataFrame(geometry=[BOX], crs=GK).to_file(two_shp / "b.shp")
    two_layers = tmp / "two.gpkg"
    gpd.GeoDataFrame(geometry=[BOX], crs=GK).to_file(two_layers, layer="a")
    gpd.GeoDataFrame(geometry=[BOX], crs=GK).to_file(two_layers, layer="b")
    xls = tmp / "x.xlsx"
    pyogrio.write_dataframe(pd.DataFrame({"点号": ["J1"], "备注": ["无坐标"]}), xls, driver="XLSX")
    kml_line = tmp / "line.kml"
    gpd.GeoDataFrame(geometry=[shapely.LineString([(103.7, 29.5), (103.8, 29.6)])], crs=4326).to_file(
        kml_line, driver="KML")
    cases: list[tuple[str, bytes, str, int]] = [
        ("empty.geojson", b"", "E_FILE_EMPTY", 422),
        ("drawing.dwg", b"AC1032\x00\x00binary", "E_FORMAT_UNKNOWN", 415),
        ("noext", b"hello", "E_FORMAT_UNKNOWN", 415),
        ("broken.zip", b"PK\x03\x04 this is not a zip", "E_ZIP_BROKEN", 422),
        ("traversal.zip", zbytes({"../../evil.shp": b"x"}), "E_ZIP_PATH", 422),
        ("absolute.zip", zbytes({"/etc/evil.shp": b"x"}), "E_ZIP_PATH", 422),
        ("symlink.zip", zbytes({}, symlink="link.shp"), "E_ZIP_PATH", 422),
        ("bomb.zip", zbytes({"b.shp": b"\0" * 60_000_000}), "E_ZIP_BOMB", 413),
        ("file_and_folder.zip", zbytes({"a": b"x", "a/b.shp": b"y"}), "E_ZIP_BROKEN", 422),
        ("features_not_a_list.geojson", b'{"type": "FeatureCollection", "features": 5}', "E_FILE_UNREADABLE", 422),
        ("xml_named_json.json", b'<?xml version="1.0"?><!DOCTYPE k [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
         b"<kml><Placemark><name>&e;</name></Placemark></kml>", "E_KML_ENTITY", 422),
        ("readme_only.zip", zbytes({"readme.txt": "说明".encode()}), "E_ZIP_NO_DATA", 415),
        ("macosx_only.zip", zbytes({"__MACOSX/._b.shp": b"junk"}), "E_ZIP_EMPTY", 422),
        ("two_shapefiles.zip", zbytes({p.name: p.read_bytes() for p in sorted(two_shp.iterdir())}),
         "E_ZIP_MULTIPLE", 422),
        ("no_prj_no_prefix.zip", shp_zip(gpd.GeoDataFrame(geometry=[BOX], crs=GK), tmp, "noprj", (".prj",)),
         "E_CRS_UNKNOWN", 422),
        ("xian80.zip", shp_zip(gpd.GeoDataFrame(geometry=[BOX], crs=2383), tmp, "xian"), "E_CRS_DATUM_UNSUPPORTED",
         422),
        ("shp_without_shx.shp", (tmp / "noprj" / "noprj.shp").read_bytes(), "E_FILE_UNREADABLE", 422),
        ("truncated.geojson", geojson(BOX)[:40], "E_FILE_UNREADABLE", 422),
        ("paris.geojson", geojson(shapely.box(2.3, 48.8, 2.4, 48.9)), "E_OUTSIDE_CHINA", 422),
        ("impossible_lonlat.geojson", geojson(shapely.box(500, 29, 501, 30)), "E_CRS_UNKNOWN", 422),
        ("points.geojson", geojson(shapely.MultiPoint([(103.7, 29.5), (103.8, 29.6)])), "E_GEOMETRY_NOT_POLYGON",
         422),
        ("zero_area.geojson", geojson(shapely.Polygon([(103.7, 29.5), (103.8, 29.6), (103.7, 29.5), (103.8, 29.6)])),
         "E_GEOMETRY_DEGENERATE", 422),
        ("sliver_only.geojson", geojson(gpd.GeoSeries([shapely.box(380_000, 3_270_000, 380_000.5, 3_270_000.5)],
                                                      crs=GK).to_crs(4326).iloc[0]), "E_GEOMETRY_DEGENERATE", 422),
        ("line.kml", kml_line.read_bytes(), "E_GEOMETRY_NOT_POLYGON", 422),
        ("xxe.kml", b'<?xml version="1.0"?>\n<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
         b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name></Placemark></kml>',
         "E_KML_ENTITY", 422),
        ("billion_laughs.kml", b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
         b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
         b'<kml><Placemark><name>&lol2;</name></Placemark></kml>', "E_KML_ENTITY", 422),
        ("xxe_inside.kmz", zbytes({"doc.kml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                                   b'"file:///etc/hostname">]><kml><Placemark><name>&e;</name></Placemark></kml>'}),
         "E_KML_ENTITY", 422),
        ("not_a_zip.kmz", b"this is no kmz", "E_ZIP_BROKEN", 422),
        ("no_placemark.kml", b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
         b"</Document></kml>", "E_NO_DATA", 422),
        ("two_layers.gpkg", two_layers.read_bytes(), "E_SUBLAYER_REQUIRED", 422),
        ("garbage.gpkg", b"SQLite format 3\x00" + b"\x01" * 200, "E_FILE_UNREADABLE", 422),
        ("garbage.fgb", b"fgb\x03fgb\x00" + b"\x02" * 100, "E_NO_DATA", 422),
        ("garbage.dxf", b"0\nSECTION\n2\nENTITIES\n0\nLWPOLYLINE\n10\nnot-a-number\n", "E_DXF_UNREADABLE", 422),
        ("lines_only.dxf", dxf_bytes(tmp, lambda m: m.add_line((35_380_000, 3_270_000), (35_380_100, 3_270_100))),
         "E_DXF_NO_CLOSED_SHAPES", 422),
        ("no_prefix.dxf", dxf_bytes(tmp, lambda m: m.add_lwpolyline(
            [(380_000, 3_270_000), (380_100, 3_270_000), (380_100, 3_270_100)], close=True)), "E_CRS_UNKNOWN", 422),
        ("fullwidth_comma.csv", "点号,X,Y\nJ1,3270000，35380000\n".encode(), "E_TABLE_FULLWIDTH_COMMA", 422),
        ("no_coordinate_columns.csv", "点号,名称\nJ1,甲\n".encode(), "E_TABLE_COLUMNS", 422),
        ("text_coordinate.csv", "点号,X,Y\nJ1,3270000,abc\nJ2,3270100,35380000\nJ3,3270100,35380100\n".encode(),
         "E_TABLE_BAD_COORDINATE", 422),
        ("two_points.csv", "点号,X,Y\nJ1,3270000,35380000\nJ2,3270100,35380000\n".encode(),
         "E_TABLE_RING_DEGENERATE", 422),
        ("no_coordinate_columns.xlsx", xls.read_bytes(), "E_TABLE_COLUMNS", 422),
        ("garbage.xlsx", b"PK\x03\x04 not a workbook", "E_TABLE_UNREADABLE", 422),
        ("lonlat_swapped_outside.geojson", geojson(shapely.box(29.5, 103.7, 29.6, 103.8)), "E_CRS_UNKNOWN", 422),
        ("wgs_gk_mix.geojson", json.dumps(json.loads(lonlat.to_json()) | {"bbox": None}).encode()[:-30],
         "E_FILE_UNREADABLE", 422),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if not old.name.startswith("txt_") and old.name != "expected_txt.csv":
            old.unlink()
    with open(OUT / "expected_files.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "code", "status"])
        for name, data, code, status in cases:
            (OUT / name).write_bytes(data)
            w.writerow([name, code, status])
    print(f"{len(cases)} bad files written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
