"""No request may produce a 5xx: random option values, projects and query parameters against the real app.

Every answer is a success or a refusal in the contract's error shape (a stable ``E_…`` code, a message
in Chinese and in English). A review found a ``crs`` posted as a list answered 500; this looks for the
next one of its kind, on both stores.
"""

from __future__ import annotations

import json
import os

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.geodata import gk_box, to_lonlat

SQUARE = json.loads(shapely.to_geojson(to_lonlat(gk_box(1500, 0, 100))))

# JSON values of every kind, including the awkward ones: huge and tiny numbers, text that looks like a
# number, a CRS or a flag, nesting
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0", "-1", "1e999", "true", "yes", "EPSG:4544", "EPSG:4326", "4490", "abc", "35",
                     "+proj=longlat", "GBK", "layer0", "中文", " ", "NaN", "a\x00b"]),
    st.text(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                          inner, max_size=3),
                      max_leaves=6)
OPTION_FIELDS = ["crs", "zone", "gcj02", "layer", "encoding", "linear", "row_width_m",
                 "accept_datum_approximation", "layers", "buffer_m"]
options = st.dictionaries(st.sampled_from(OPTION_FIELDS), values, max_size=4)
ATTRIBUTES = ["stack_height_m", "row_width_m", "linear", "limited_activity", "national_major_project", "x"]
projects = st.one_of(
    st.fixed_dictionaries({"industry": st.sampled_from(["C2614", "D4413", "C26"]),  # screenings that run
                           "action": st.sampled_from(["new", "expand"])},
                          optional={"name": st.text(max_size=10),
                                    "attributes": st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=3)}),
    values,
    st.fixed_dictionaries({"industry": st.sampled_from(["C2614", "c26", "Z9999", ""]) | values,
                           "action": st.sampled_from(["new", "expand", "bogus"]) | values},
                          optional={"name": values,
                                    "attributes": st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=3)
                                    | values}),
)
geometries = st.one_of(st.just(SQUARE), st.just(SQUARE), values,
                       st.fixed_dictionaries({"type": st.sampled_from(["Polygon", "Point", "LineString",
                                                                       "FeatureCollection", "Feature"]),
                                              "coordinates": values}))
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def refused_properly(r) -> None:
    assert r.status_code < 500, (r.request.url, r.text[:500])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["code"].startswith("E_") and err["message_zh"] and err["message_en"], err


VALID = {"industry": "C2614", "action": "new"}


@FUZZ
@given(path=st.sampled_from(["/api/footprints/preview", "/api/screenings", "/api/overlay"]), geometry=geometries,
       project=projects, opts=options)
def test_json_requests_never_fail_with_a_5xx(client, path, geometry, project, opts):
    refused_properly(client.post(path, json={"geometry": geometry, "project": project, **opts}))


@FUZZ
@given(path=st.sampled_from(["/api/screenings", "/api/overlay"]), name=st.sampled_from(OPTION_FIELDS), value=values,
       attributes=st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=2))
def test_one_odd_value_in_a_valid_request_never_fails_with_a_5xx(client, path, name, value, attributes):
    """A screening that runs, with one option or fact awry: this reaches the store and the record (the
    fully random requests above are mostly refused before)."""
    r = client.post(path, json={"geometry": SQUARE, "project": {**VALID, "attributes": attributes}, name: value})
    refused_properly(r)


@FUZZ
@given(path=st.sampled_from(["/api/footprints/preview", "/api/screenings", "/api/overlay"]),
       form=st.dictionaries(st.sampled_from(OPTION_FIELDS), st.text(max_size=30), max_size=4),
       project=st.sampled_from([json.dumps(VALID), json.dumps({**VALID, "name": "甲"}), "", "{bad"]) | st.text(max_size=40),
       name=st.sampled_from(["b.geojson", "b.txt", "b.csv", "b.zip", "b.kml", "b.dxf", "b", "b.exe"]),
       body=st.sampled_from([json.dumps(SQUARE).encode(), b"", b"\x00\xff", b"X,Y\n1,2\n", b"<kml/>"]))
def test_uploads_never_fail_with_a_5xx(client, path, form, project, name, body):
    refused_properly(client.post(path, files={"file": (name, body)}, data={**form, "project": project}))


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["bbox", "version", "limit", "offset", "geometry", "q", "lang"]),
                              st.text(max_size=25) | st.integers().map(str) | st.just("v\x00"), max_size=4),
       path=st.sampled_from(["/api/layers/redline/features", "/api/layers/redline/features/0",
                             "/api/layers/nope/features", "/api/industries", "/api/layers/redline/versions",
                             "/tiles/redline/tilejson.json", "/api/screenings/S0-x", "/api/project-attributes",
                             "/api/screenings/S0-%00/report.pdf", "/api/layers/red%00line", "/", "/screen",
                             "/screenings/S0-x", "/screenings/S0-x/map.html", "/samples/boundary.txt",
                             "/api/screenings/S0-x/report.xlsx", "/healthz", "/api"]))
def test_queries_never_fail_with_a_5xx(client, params, path):
    refused_properly(client.get(path, params=params))


@FUZZ
@given(z=st.integers(-3, 40), x=st.integers(-(2**33), 2**33), y=st.integers(-(2**33), 2**33),
       layer=st.sampled_from(["redline", "water", "nope", "..", "redline.v1"]))
def test_tile_requests_never_fail_with_a_5xx(client, z, x, y, layer):
    refused_properly(client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt"))


def test_nul_characters_are_refused_or_dropped_alike_on_both_stores(client, tmp_path):
    """PostgreSQL text cannot hold NUL (the fuzzing above found the PostGIS store answering 500 to one in
    a query or a project): a NUL in a path, a query or the project is refused; none reaches the record from
    an uploaded file's text attributes or its name, and the record is kept and read back the same."""
    import geopandas as gpd

    from tests.geodata import GK

    r = client.get("/api/layers/redline/features", params={"version": "redline.v1\x00"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "E_REQUEST_INVALID"
    project = {"name": "甲\x00", "industry": "C2614", "action": "new"}
    r = client.post("/api/screenings", json={"geometry": SQUARE, "project": project})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID"  # the body, as it is read
    r = client.post("/api/screenings", files={"file": ("b.geojson", json.dumps(SQUARE).encode())},
                    data={"project": json.dumps(project)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_PROJECT_INVALID"
    path = tmp_path / "site.gpkg"
    gpd.GeoDataFrame({"名称": ["地块\x00甲"]}, geometry=[gk_box(1500, 0, 100)], crs=GK).to_file(path)
    r = client.post("/api/screenings", files={"file": ("site\x00.gpkg", path.read_bytes())},
                    data={"project": json.dumps({"industry": "C2614", "action": "new"})})
    assert r.status_code == 201, r.text
    rec = r.json()
    name = rec["footprint"]["parcels"][0]["attributes"]["名称"]
    assert name.startswith("地块") and "\x00" not in name  # (GDAL itself ends the text at the NUL)
    assert "\x00" not in rec["footprint"]["file_name"]
    assert client.get(f"/api/screenings/{rec['id']}").json() == rec


@FUZZ
@given(form=st.dictionaries(st.sampled_from(["kind", "version", "source", "number", "authority", "effective",
                                             "sublayer", "encoding", "crs"]),
                            st.text(max_size=12) | st.sampled_from(["eco_redline", "2024-01-02", "a\x00b", "GBK"]),
                            max_size=6),
       layer=st.sampled_from(["redline", "fuzzed", "Bad Id", "x" * 80]))
def test_publishing_never_fails_with_a_5xx(store, tmp_path_factory, form, layer):
    """An admin's upload with random form fields: published or refused, never a 5xx."""
    from fastapi.testclient import TestClient

    from app.api.app import create_app
    from app.settings import PROJECT_ROOT, Settings

    tmp = tmp_path_factory.mktemp("publish")
    (tmp / "keys.txt").write_text("k3y 管理员\n", encoding="utf-8")
    settings = Settings(data_dir=tmp, api_keys_file=tmp / "keys.txt", layers_dir=PROJECT_ROOT / "layers")
    data = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"名称": "甲"},
                                                                  "geometry": SQUARE}]}).encode()
    with TestClient(create_app(settings, store=store)) as c:
        refused_properly(c.post(f"/api/layers/{layer}/versions", files={"file": ("l.geojson", data)},
                                data={"kind": "eco_redline", **form}, headers={"X-API-Key": "k3y"}))


def test_lone_surrogates_are_refused(client):
    """``"\\ud800"`` is valid JSON text but no Unicode character: kept in a record it failed both stores
    (500). Refused wherever a request carries JSON; a surrogate pair (an emoji) is a character and reads."""
    square = json.dumps(SQUARE)
    for body in ('{"geometry": %s, "project": {"name": "\\ud800", "industry": "C2614", "action": "new"}}',
                 '{"geometry": %s, "project": {"industry": "C2614", "action": "new", "attributes": {"\\udfff": 1}}}',
                 '{"geometry": %s, "crs": "\\ud800"}'):
        for path in ("/api/screenings", "/api/footprints/preview", "/api/overlay"):
            r = client.post(path, content=(body % square).encode(), headers={"content-type": "application/json"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID", (path, body, r.text)
    r = client.post("/api/screenings", files={"file": ("b.geojson", square.encode())},
                    data={"project": '{"name": "\\ud800", "industry": "C2614", "action": "new"}'})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_PROJECT_INVALID"
    ok = '{"geometry": GEOMETRY, "project": {"name": "\\ud83d\\ude00", "industry": "C2614", "action": "new"}}'
    ok = ok.replace("GEOMETRY", square)
    r = client.post("/api/screenings", content=ok.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 201 and r.json()["project"]["name"] == "😀"
    for url in ("/api/industries?q=%ED%A0%80", "/api/layers/redline/features?version=%ED%A0%80",
                "/api/screenings/S%ED%A0%80"):  # a surrogate's bytes, not UTF-8: read as U+FFFD
        refused_properly(client.get(url))


def test_reports_of_awkward_records(client):
    """A record whose texts hold control characters, a formula, markup, bidi marks and the longest name
    taken (200 characters; 5,000 took half a minute to lay out in the PDF and is refused): every report
    is written (the XLSX had refused control characters with a 500), and the worksheet keeps the user's
    text as text."""
    import io

    from openpyxl import load_workbook

    long = {"name": "x" * 5000, "industry": "C2614", "action": "new"}
    r = client.post("/api/screenings", json={"geometry": SQUARE, "project": long})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_PROJECT_INVALID"
    for name in ("a\x01b\x1fc", '=HYPERLINK("http://example.com","x")', "<script>alert(1)</script>", "x" * 200,
                 "😀\u202e甲"):
        project = {"name": name, "industry": "C2614", "action": "new", "attributes": {"k\x02": "v\x0b"}}
        r = client.post("/api/screenings", json={"geometry": SQUARE, "project": project})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        for suffix in ("report.html", "report.pdf", "report.xlsx", "result.geojson", "report.pdf?lang=en"):
            resp = client.get(f"/api/screenings/{rid}/{suffix}")
            assert resp.status_code == 200, (name[:20], suffix, resp.text[:300])
        assert "<script>alert(1)</script>" not in client.get(f"/api/screenings/{rid}/report.html").text
        assert client.get(f"/screenings/{rid}").status_code == 200
        sheet = load_workbook(io.BytesIO(client.get(f"/api/screenings/{rid}/report.xlsx").content)).worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row if c.value == name.replace("\x01", "").replace("\x1f", "")]
        assert cells and all(c.data_type == "s" for c in cells), name[:20]


def _post_raw(client, path: str, body: bytes, ctype: str = "application/json"):
    return client.post(path, content=body, headers={"content-type": ctype})


def test_bodies_a_record_could_not_keep_are_refused(client):
    """What a review sent past the fuzzing above, each once a 500: a UTF-16 body hiding a lone surrogate,
    ``1e400`` (a JSON number that is infinite in Python), a 400-digit buffer (no float), nesting thousands
    deep, NUL or an object in a text option. Refused with 422, as is a UTF-7 multipart body smuggling a
    surrogate. (A screening has no buffer: there the 400 digits are ignored.)"""
    square = json.dumps(SQUARE)
    deep = "[" * 2000 + "]" * 2000
    bodies = [
        ('{"geometry": G, "project": {"name": "\\ud800", "industry": "C2614", "action": "new"}}', "utf-16-le"),
        ('{"geometry": G, "zone": 1e400, "project": {"industry": "C2614", "action": "new"}}', "utf-8"),
        ('{"geometry": G, "buffer_m": ' + "9" * 400 + ', "project": {"industry": "C2614", "action": "new"}}', "utf-8"),
        ('{"geometry": G, "project": {"industry": "C2614", "action": "new", "attributes": {"x": ' + deep + "}}}",
         "utf-8"),
        ('{"geometry": G, "project": {"industry": "C2614", "action": "new", "attributes": {"x": [1e400]}}}', "utf-8"),
        ('{"geometry": G, "layer": "a\\u0000b", "project": {"industry": "C2614", "action": "new"}}', "utf-8"),
        ('{"geometry": G, "layer": {"x": 1}, "project": {"industry": "C2614", "action": "new"}}', "utf-8"),
    ]
    for text, encoding in bodies:
        paths = ("/api/overlay",) if '"buffer_m"' in text else ("/api/screenings", "/api/footprints/preview",
                                                                 "/api/overlay")
        for path in paths:
            r = _post_raw(client, path, text.replace("G", square, 1).encode(encoding))
            assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID", (text[:60], path, r.text)
    r = _post_raw(client, "/api/screenings", ('{"geometry": G, "crs": 4326, "project": {"industry": "C2614", '
                                              '"action": "new"}}').replace("G", square).encode())
    assert r.status_code == 201, r.text  # an EPSG code as a number is still read
    # a multipart body in UTF-7: "+2AA-" is a lone surrogate once Starlette decodes the field
    for field in ("project", "crs", "layer"):
        value = "+2AA-" if field != "project" else '{"name": "+2AA-", "industry": "C2614", "action": "new"}'
        body = (f'--B\r\nContent-Disposition: form-data; name="file"; filename="b.geojson"\r\n\r\n{square}\r\n'
                f'--B\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n--B--\r\n').encode()
        r = _post_raw(client, "/api/screenings", body, "multipart/form-data; boundary=B; charset=utf-7")
        assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID", (field, r.text)
    r = client.post("/api/screenings", files={"file": ("b.geojson", square.encode())},
                    data={"encoding": "\x00", "project": json.dumps(VALID)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E_REQUEST_INVALID"
    r = _post_raw(client, "/api/screenings", b"--B\r\n", "multipart/form-data")  # no boundary: Starlette's own
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == "E_REQUEST_INVALID" and "请求格式不正确" in err["message_zh"]


def test_other_inputs_a_review_found_answering_500(client, tmp_path):
    """A page offset past 2**63; prefixed eastings read in a plane without the prefix (the refusal's bounds
    were infinite); a corner list naming a part with NUL; an encrypted zip member; a zip member name
    flagged UTF-8 that is not."""
    import io
    import zipfile

    from tests.geodata import gk_box as box

    for offset in (2**63, 2**64, 10**40):
        r = client.get("/api/layers/redline/features", params={"offset": str(offset)})
        assert r.status_code == 200 and r.json()["features"] == [], r.text
    x0, y0 = box(0, 0, 1).bounds[:2]
    prefixed = json.loads(shapely.to_geojson(shapely.box(35e6 + x0, y0, 35e6 + x0 + 100, y0 + 100)))
    r = client.post("/api/footprints/preview", json={"geometry": prefixed, "crs": "EPSG:4544"})
    assert r.status_code == 422 and r.json()["error"]["code"] in ("E_OUTSIDE_CHINA", "E_CRS_TRANSFORM"), r.text
    csv = f"地块,X,Y\na\x00b,{y0},{x0}\na\x00b,{y0},{x0 + 100}\na\x00b,{y0 + 100},{x0 + 100}\n".encode()
    r = client.post("/api/screenings", files={"file": ("c.csv", csv)}, data={"zone": "35", "project": json.dumps(VALID)})
    assert 400 <= r.status_code < 500, r.text
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("b.geojson", json.dumps(SQUARE))
    plain = buf.getvalue()
    # the general-purpose flags of the local and central headers: bit 0 encrypted, bit 11 UTF-8 names
    local, central = plain.index(b"PK\x03\x04"), plain.index(b"PK\x01\x02")
    encrypted = bytearray(plain)
    encrypted[local + 6] |= 0x01
    encrypted[central + 8] |= 0x01
    badname = bytearray(plain.replace(b"b.geojson", b"\xff.geojson"))
    badname[local + 7] |= 0x08
    badname[central + 9] |= 0x08
    for data in (bytes(encrypted), bytes(badname)):
        r = client.post("/api/screenings", files={"file": ("b.zip", data)}, data={"project": json.dumps(VALID)})
        assert r.status_code == 422 and r.json()["error"]["code"] == "E_ZIP_BROKEN", r.text


def test_what_a_third_review_found(client):
    """A hole whose vertex lies far away (a polygon's own bounds are its shell's, so the checks built on
    them had missed it: 500s, or a footprint reaching New York); a zip member whose deflated data is
    corrupt; a big integer fact, screened, kept and re-run alike on both stores."""
    import io
    import zipfile

    shell = [[103.760, 29.540], [103.765, 29.540], [103.765, 29.545], [103.760, 29.545], [103.760, 29.540]]
    for far in ([103.7624, 91.0], [-74.0, 40.7], [103.7624, 60.0]):
        hole = [[103.7626, 29.5425], far, [103.7624, 29.5426], [103.7626, 29.5425]]
        body = {"geometry": {"type": "Polygon", "coordinates": [shell, hole]}, "project": VALID}
        for path in ("/api/screenings", "/api/footprints/preview", "/api/overlay"):
            r = client.post(path, json=body)
            assert r.status_code == 422 and r.json()["error"]["code"] in ("E_OUTSIDE_CHINA", "E_CRS_UNKNOWN"), (far, path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("b.geojson", json.dumps({"type": "FeatureCollection", "features": []}) * 20)
    data = bytearray(buf.getvalue())
    start = 30 + len("b.geojson")  # the member's data, after its local header
    data[start:start + 8] = bytes(b ^ 0x5A for b in data[start:start + 8])
    for name in ("b.zip", "b.kmz"):
        r = client.post("/api/footprints/preview", files={"file": (name, bytes(data))})
        assert r.status_code == 422 and r.json()["error"]["code"] == "E_ZIP_BROKEN", (name, r.text)
    project = {**VALID, "attributes": {"parcel_code": 10**20, "stack_height_m": 1e19}}
    rec = client.post("/api/screenings", json={"geometry": SQUARE, "project": project}).json()
    assert rec["project"]["attributes"]["parcel_code"] == 10**20
    again = client.post(f"/api/screenings/{rec['id']}/rerun")
    assert again.status_code == 200 and again.json()["same"], again.text


def test_a_far_vertex_in_a_projected_crs_is_refused_before_any_work(client):
    """Edges of projected input are cut to 200 m before they are transformed: one vertex at x = 1e300 asked
    for 1e297 points (the process crashed), at 1e10 for 10 GB of them. The span is refused first."""
    import time

    x0, y0 = 380_000.0, 3_270_000.0
    shell = [[x0, y0], [x0 + 500, y0], [x0 + 500, y0 + 500], [x0, y0 + 500], [x0, y0]]
    for far in (1e300, 2e21, 1e10, -1e9):
        hole = [[x0 + 100, y0 + 100], [far, y0 + 200], [x0 + 100, y0 + 300], [x0 + 100, y0 + 100]]
        for ring in ([shell, hole], [shell[:2] + [[far, y0 + 250]] + shell[2:]]):
            t = time.perf_counter()
            r = client.post("/api/footprints/preview", json={"geometry": {"type": "Polygon", "coordinates": ring},
                                                              "crs": "EPSG:4544"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "E_OUTSIDE_CHINA", (far, r.text)
            assert time.perf_counter() - t < 5  # refused at once, not after minutes of work
