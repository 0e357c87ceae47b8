"""The LayerStore contract, run on PostGIS and on the embedded store; both must give the same answers."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely

from app.domain.errors import Conflict, EcoError, NotFound
from app.domain.models import ImportReport, LayerData, Provenance
from tests.conftest import make_store
from tests.geodata import gk_box, to_lonlat


def layer_data(geoms_gk, names, kind="eco_redline", sha="0" * 64) -> LayerData:
    geoms = to_lonlat(np.array(geoms_gk, dtype=object))
    return LayerData(kind, geoms, [{"name": n} for n in names], ImportReport(file_sha256=sha, source_file="t"))


def grid(n: int = 5, size: float = 400.0, gap: float = 100.0):
    """n × n squares, row-major, named r{row}c{col}."""
    geoms, names = [], []
    for r in range(n):
        for c in range(n):
            geoms.append(gk_box(c * (size + gap), r * (size + gap), size))
            names.append(f"r{r}c{c}")
    return geoms, names


PROV = Provenance(label="2023版", source_document="某市生态保护红线划定方案", doc_number="川府发〔2023〕1号",
                  authority="四川省人民政府", effective_date=date(2023, 6, 1), imported_by="tester")


def test_publish_lists_layer_with_provenance(store):
    v = store.publish("redline", layer_data(*grid(2)), PROV)
    assert v.id == "redline.v1" and v.seq == 1 and v.feature_count == 4
    assert v.vertex_count == 20
    layers = store.list_layers()
    assert [layer.id for layer in layers] == ["redline"]
    info = layers[0]
    assert info.kind == "eco_redline" and info.name_zh == "生态保护红线" and info.version_count == 1
    p = info.current.provenance
    assert (p.source_document, p.doc_number, p.authority, p.effective_date, p.label) == (
        "某市生态保护红线划定方案", "川府发〔2023〕1号", "四川省人民政府", date(2023, 6, 1), "2023版")
    assert info.current.file_sha256 == "0" * 64
    x0, y0, x1, y1 = info.current.bbox
    assert 103 < x0 < x1 < 104.5 and 29 < y0 < y1 < 30


def test_new_version_switches_and_old_stays_readable(store):
    store.publish("redline", layer_data(*grid(2)), PROV)
    v2 = store.publish("redline", layer_data([gk_box(0, 0, 300)], ["only"], sha="1" * 64), Provenance(label="v2"))
    assert v2.id == "redline.v2"
    assert store.get_layer("redline").current.id == "redline.v2"
    assert [v.id for v in store.list_versions("redline")] == ["redline.v1", "redline.v2"]
    cur = store.features("redline")
    assert cur.total == 1 and cur.features[0].attributes["name"] == "only"
    old = store.features("redline", version_id="redline.v1")
    assert old.total == 4 and {f.attributes["name"] for f in old.features} == {"r0c0", "r0c1", "r1c0", "r1c1"}
    assert store.get_version("redline.v1").provenance.authority == "四川省人民政府"
    f = store.feature("redline.v1", 3)
    assert f.id == "redline.v1.3" and f.attributes["name"] == "r1c1" and f.layer_id == "redline"
    # candidates pinned to the old version (re-runs) and from the current one
    probe = to_lonlat(gk_box(350, 350, 200))
    assert {p.feature_id for p in store.candidate_pieces(probe, versions={"redline": "redline.v1"})} == {
        "redline.v1.0", "redline.v1.1", "redline.v1.2", "redline.v1.3"}
    assert {p.feature_id for p in store.candidate_pieces(probe)} == set()


def test_reader_sees_old_or_new_never_a_mix(store):
    store.publish("redline", layer_data(*grid(3)), PROV)
    in_write, release = threading.Event(), threading.Event()
    new_geoms, new_names = grid(4)

    def slow_progress(stage: str, done: int, total: int) -> None:
        if stage == "write":
            in_write.set()
            assert release.wait(30)

    errors: list[BaseException] = []

    def writer() -> None:
        try:
            store.publish("redline", layer_data(new_geoms, [f"new-{n}" for n in new_names]), PROV,
                          progress=slow_progress)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert in_write.wait(30)
        # the writer is inside its transaction: readers must still see exactly version 1
        page = store.features("redline", limit=100)
        assert page.total == 9 and all(not f.attributes["name"].startswith("new-") for f in page.features)
        assert store.get_layer("redline").current.id == "redline.v1"
        probe = to_lonlat(gk_box(-100, -100, 3000))
        assert {p.version_id for p in store.candidate_pieces(probe)} == {"redline.v1"}
    finally:
        release.set()
        t.join(60)
    assert not errors
    assert store.get_layer("redline").current.id == "redline.v2"
    page = store.features("redline", limit=100)
    assert page.total == 16 and all(f.attributes["name"].startswith("new-") for f in page.features)


def test_failed_publish_leaves_nothing(store):
    def crash(stage: str, done: int, total: int) -> None:
        if stage == "write":
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        store.publish("redline", layer_data(*grid(2)), PROV, progress=crash)
    assert store.list_layers() == []
    with pytest.raises(NotFound):
        store.list_versions("redline")
    with pytest.raises(NotFound):
        store.get_version("redline.v1")
    # a later publish starts cleanly at v1, and a failed second publish keeps v1 current
    store.publish("redline", layer_data(*grid(2)), PROV)
    with pytest.raises(RuntimeError):
        store.publish("redline", layer_data(*grid(3)), PROV, progress=crash)
    assert [v.id for v in store.list_versions("redline")] == ["redline.v1"]
    assert store.features("redline").total == 4
    with pytest.raises(NotFound):
        store.features("redline", version_id="redline.v2")
    # the next good publish is v2: no gap, no leftovers from the failed one
    v = store.publish("redline", layer_data(*grid(3)), PROV)
    assert v.id == "redline.v2" and store.features("redline").total == 9


def test_kind_mismatch_is_refused_and_changes_nothing(store):
    store.publish("redline", layer_data(*grid(2)), PROV)
    with pytest.raises(Conflict) as ei:
        store.publish("redline", layer_data(*grid(2), kind="nature_reserve"), PROV)
    assert ei.value.code == "E_KIND_MISMATCH" and ei.value.status == 409
    assert [v.id for v in store.list_versions("redline")] == ["redline.v1"]


def test_invalid_layer_id_and_unknown_kind_are_refused(store):
    with pytest.raises(EcoError) as ei:
        store.publish("Bad Id", layer_data(*grid(1)), PROV)
    assert ei.value.code == "E_LAYER_ID"
    with pytest.raises(EcoError) as ei:
        store.publish("x", layer_data(*grid(1), kind="no_such_kind"), PROV)
    assert ei.value.code == "E_UNKNOWN_KIND"
    assert store.list_layers() == []


def test_bbox_filter_and_paging(store):
    store.publish("redline", layer_data(*grid(5)), PROV)
    # a window over columns 1–2 and rows 1–3 (in GK metres), as a lon/lat bbox
    window = to_lonlat(gk_box(600, 600, 700, 1200))
    bbox = tuple(window.bounds)
    page = store.features("redline", bbox=bbox, limit=4)
    expected = {f"r{r}c{c}" for r in (1, 2, 3) for c in (1, 2)}
    got, offset = [], 0
    while True:
        page = store.features("redline", bbox=bbox, limit=4, offset=offset)
        assert page.total == len(expected)
        if not page.features:
            break
        got += [f.attributes["name"] for f in page.features]
        offset += 4
    # lon/lat bboxes of a GK window are slightly larger than the window: neighbours may touch it
    assert expected <= set(got) and len(got) == len(set(got)) == page.total
    fids = [f.fid for f in store.features("redline", bbox=bbox, limit=100).features]
    assert fids == sorted(fids)
    # limits are clamped, not refused
    assert store.features("redline", limit=0).limit == 1
    assert store.features("redline", limit=10**9).limit == 10_000
    assert len(store.features("redline", limit=10, offset=20).features) == 5
    # attributes only: the same rows and totals, no geometry read
    for kw in ({}, {"bbox": bbox}):
        full, bare = store.features("redline", limit=7, offset=3, **kw), store.features(
            "redline", limit=7, offset=3, geometry=False, **kw)
        assert bare.total == full.total and [(f.id, f.attributes) for f in bare.features] == [
            (f.id, f.attributes) for f in full.features]
        assert all(f.geometry is None for f in bare.features) and all(f.geometry is not None for f in full.features)


def test_candidates_by_intersection_and_distance(store):
    probe_gk = gk_box(0, 0, 500)
    feats = [
        gk_box(400, 400, 300),  # overlaps the probe
        gk_box(500 + 900, 0, 300),  # 900 m east
        gk_box(500 + 1100, 0, 300),  # 1,100 m east
        gk_box(-1300, -1300, 300),  # ~1,414 m diagonally (corner to corner)
        gk_box(0, 500 + 999, 200),  # 999 m north
        gk_box(0, 500 + 1001, 200),  # 1,001 m north
    ]
    store.publish("redline", layer_data(feats, [f"f{i}" for i in range(len(feats))]), PROV)
    probe = to_lonlat(probe_gk)
    names = lambda pieces: {p.attributes["name"] for p in pieces}  # noqa: E731
    assert names(store.candidate_pieces(probe)) == {"f0"}
    assert names(store.candidate_pieces(probe, distance_m=1000)) == {"f0", "f1", "f4"}
    assert names(store.candidate_pieces(probe, distance_m=1500)) == {"f0", "f1", "f2", "f4", "f5", "f3"}
    assert store.candidate_pieces(probe, layers=["other"]) == []
    piece = store.candidate_pieces(probe)[0]
    assert piece.layer_id == "redline" and piece.kind == "eco_redline" and piece.feature_id == "redline.v1.0"


def test_candidate_pieces_are_subdivided_and_cover_the_feature(store):
    # one large wiggly polygon of ~5,000 vertices: pieces must be small and add up to the feature
    a = np.linspace(0, 2 * np.pi, 5000, endpoint=False)
    r = 3000 * (1 + 0.2 * np.sin(13 * a))
    poly_gk = shapely.Polygon(np.column_stack([380_000 + r * np.cos(a), 3_270_000 + r * np.sin(a)]))
    data = LayerData("eco_redline", to_lonlat(np.array([poly_gk], dtype=object)), [{"name": "big"}],
                     ImportReport(file_sha256="2" * 64))
    store.publish("redline", data, PROV)
    everything = to_lonlat(shapely.box(370_000, 3_260_000, 390_000, 3_280_000))
    pieces = store.candidate_pieces(everything)
    assert len(pieces) > 10
    assert max(shapely.get_num_coordinates(p.geometry) for p in pieces) <= 256
    total = sum(p.geometry.area for p in pieces)
    assert total == pytest.approx(data.geometries[0].area, rel=1e-9)
    small = to_lonlat(shapely.box(383_000, 3_269_900, 383_100, 3_270_000))
    assert 0 < len(store.candidate_pieces(small)) < len(pieces) / 4


def test_not_found_errors(store):
    with pytest.raises(NotFound) as ei:
        store.get_layer("nope")
    assert ei.value.code == "E_LAYER_NOT_FOUND"
    store.publish("redline", layer_data(*grid(1)), PROV)
    with pytest.raises(NotFound):
        store.feature("redline.v1", 99)
    with pytest.raises(NotFound):
        store.features("redline", version_id="other.v1")
    with pytest.raises(NotFound):
        store.candidate_pieces(to_lonlat(gk_box(0, 0, 10)), versions={"redline": "redline.v9"})


def _answers(st) -> dict:
    probe = to_lonlat(gk_box(450, 450, 700))
    return {
        "layers": [(i.id, i.kind, i.current.id, i.current.feature_count, i.current.vertex_count, i.version_count)
                   for i in st.list_layers()],
        "versions": [v.id for v in st.list_versions("redline")],
        "current": st.current_versions(),
        "page": [(f.id, f.attributes, round(f.geometry.area, 12))
                 for f in st.features("redline", bbox=tuple(probe.bounds), limit=3, offset=1).features],
        "near": sorted({p.feature_id for p in st.candidate_pieces(probe, distance_m=250)}),
        "hit": sorted({p.feature_id for p in st.candidate_pieces(probe)}),
        "old": sorted({p.feature_id for p in st.candidate_pieces(probe, versions={"redline": "redline.v1"})}),
    }


def test_both_stores_agree(tmp_path: Path, catalog, pg_url):
    results = []
    for which in ("embedded", "postgis"):
        st = make_store(which, tmp_path / which, catalog)
        try:
            st.publish("redline", layer_data(*grid(3)), PROV)
            st.publish("redline", layer_data(*grid(5)), PROV)
            results.append(_answers(st))
        finally:
            st.close()
    assert results[0] == results[1]
    assert results[0]["hit"] and results[0]["near"] and results[0]["old"]


def test_postgis_answers_the_same_from_memory_and_from_sql(tmp_path, catalog, pg_url):
    """The PostGIS store keeps versions within its vertex budget in memory and asks SQL for the rest:
    both paths must give the same candidates (and the overlay, the same screening)."""
    from app.settings import Settings

    probe_gk = gk_box(0, 0, 500)
    feats = [gk_box(400, 400, 300), gk_box(1400, 0, 300), gk_box(1600, 0, 300), gk_box(0, 1499, 200)]
    results = {}
    for budget in (0, 10_000_000):
        st = make_store("postgis", tmp_path, catalog, Settings(database_url=pg_url, piece_cache_vertices=budget))
        try:
            st.publish("redline", layer_data(feats, [f"f{i}" for i in range(len(feats))]), PROV)
            probe = to_lonlat(probe_gk)
            results[budget] = [
                sorted((p.feature_id, p.geometry.wkb) for p in st.candidate_pieces(probe, distance_m=d, window_only=w))
                for d in (0, 1000, 1500) for w in (False, True)]
            assert (st._piece_index("redline.v1") is None) == (budget == 0)
        finally:
            st.close()
    assert results[0] == results[10_000_000]
    assert {fid for fid, _ in results[0][2]} == {"redline.v1.0", "redline.v1.1", "redline.v1.3"}  # 900, 999 m


def test_piece_cache_loads_only_what_fits_and_never_thrashes():
    from app.store.pieceindex import PieceIndex, PieceIndexCache

    def index(n: int) -> PieceIndex:
        pieces = np.array([shapely.box(i, 0, i + 1, 1) for i in range(n)], dtype=object)  # 5 vertices each
        return PieceIndex.build(pieces, np.arange(n), {i: {} for i in range(n)}, {i: 1.0 for i in range(n)})

    cache = PieceIndexCache(max_vertices=100)
    loads: list[str] = []

    def load(vid: str, n: int):
        return lambda: (loads.append(vid), index(n))[1]

    assert cache.get("a", load("a", 12), estimate=60).vertices == 60
    assert cache.get("b", load("b", 12), estimate=60) is None  # does not fit beside a: SQL answers
    for _ in range(3):  # a stays, b is never loaded, nothing is evicted and reloaded
        assert cache.get("a", load("a", 12), estimate=60) is not None
        assert cache.get("b", load("b", 12), estimate=60) is None
    assert loads == ["a"]
    with pytest.raises(RuntimeError):
        cache.get("c", lambda: (_ for _ in ()).throw(RuntimeError("db down")), estimate=1)
    assert cache.get("c", load("c", 1), estimate=5).vertices == 5  # a failed load leaves nothing behind


def test_migration_004_leaves_out_the_same_long_texts_as_publishing(pg_url):
    """The backfill of 004 (versions published before it) must mirror tile_properties()."""
    import json as _json

    import psycopg

    from app.domain.tilebands import LONG_TEXT, tile_properties
    from app.store.migrations import MIGRATIONS_DIR

    sql = (MIGRATIONS_DIR / "004_tile_props.sql").read_text(encoding="utf-8")
    select = sql[sql.index("(\n    SELECT") + 1: sql.index(")\nWHERE EXISTS")].replace("f.attributes", "%(a)s::jsonb")
    attrs = {"name": "单元", "category": "key", "n": 3, "ok": True, "spatial_layout": "禁" * (LONG_TEXT + 1),
             "edge": "x" * LONG_TEXT}
    with psycopg.connect(pg_url) as conn:
        got = conn.execute(select, {"a": _json.dumps(attrs, ensure_ascii=False)}).fetchone()[0]
    assert got == tile_properties(attrs)


def _eventually(check, seconds: float = 3.0):
    """NOTIFY reaches a listener a moment after the commit: poll for it (a real wait, not a sleep-and-hope)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def test_embedded_current_versions_are_cached_and_follow_every_writer(tmp_path, catalog):
    """The embedded store keeps the current versions per connection while SQLite's data_version says no
    one else has committed: its own publishes, another store on the same file (the CLI beside a server),
    another thread's connection and a hand-written UPDATE are all seen at once."""
    import sqlite3
    import threading

    from app.store.embedded import EmbeddedStore

    st = make_store("embedded", tmp_path, catalog)
    other = EmbeddedStore(tmp_path / "store.gpkg", catalog)
    try:
        st.publish("redline", layer_data([gk_box(0, 0, 100)], ["a"]), PROV)
        assert st.current_versions()["redline"][1] == "redline.v1"
        cached = st._local.versions
        assert st.current_versions()["redline"][1] == "redline.v1" and st._local.versions is cached  # from memory
        st.publish("redline", layer_data([gk_box(0, 0, 150)], ["a2"]), PROV)  # its own connection: no data_version
        assert st.current_versions()["redline"][1] == "redline.v2"
        other.publish("redline", layer_data([gk_box(0, 0, 200)], ["b"]), PROV)
        assert st.current_versions()["redline"][1] == "redline.v3"
        done = []
        threading.Thread(target=lambda: done.append(
            st.publish("redline", layer_data([gk_box(0, 0, 300)], ["c"]), PROV))).start()
        assert _eventually(lambda: bool(done)) and st.current_versions()["redline"][1] == "redline.v4"
        with sqlite3.connect(tmp_path / "store.gpkg") as con:  # a hand-written rollback
            con.execute("UPDATE er_layer SET current_version = 'redline.v1' WHERE id = 'redline'")
        assert st.current_versions()["redline"][1] == "redline.v1"
        st.current_versions()["redline"] = ("x", "y")  # an answer is the caller's own copy
        assert st.current_versions()["redline"][1] == "redline.v1"
    finally:
        other.close()
        st.close()


def test_postgis_current_versions_are_cached_and_follow_every_writer(tmp_path, catalog, pg_url):
    """The PostGIS store answers the current versions from memory and drops them when the database
    announces a change (trigger → NOTIFY): a publish by another process, a hand-written UPDATE, and a
    lost listening connection never leave a screening on a stale version."""
    from app.settings import Settings
    from app.store.postgis import PostgisStore

    st = make_store("postgis", tmp_path, catalog)
    other = PostgisStore(pg_url, catalog, Settings(database_url=pg_url))  # another worker or the CLI
    try:
        st.publish("redline", layer_data([gk_box(0, 0, 100)], ["a"]), PROV)
        assert st.current_versions()["redline"][1] == "redline.v1"  # own publish: seen at once
        loads = st._current.loads
        for _ in range(5):
            assert st.current_versions()["redline"][1] == "redline.v1"
        assert st._current.loads == loads  # answered from memory

        other.publish("redline", layer_data([gk_box(0, 0, 200)], ["b"]), PROV)
        assert _eventually(lambda: st.current_versions()["redline"][1] == "redline.v2")

        with psycopg.connect(pg_url, autocommit=True) as conn:  # a hand-written rollback
            conn.execute("UPDATE layer SET current_version = 'redline.v1' WHERE id = 'redline'")
        assert _eventually(lambda: st.current_versions()["redline"][1] == "redline.v1")

        with psycopg.connect(pg_url, autocommit=True) as conn:  # the listener dies, then a change lands
            pid = st._current._conn.info.backend_pid
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert _eventually(lambda: conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                                    (pid,)).fetchone()[0] == 0)
            conn.execute("UPDATE layer SET current_version = 'redline.v2' WHERE id = 'redline'")
        # the very next answer is right: the closed socket is noticed, the database asked
        assert st.current_versions()["redline"][1] == "redline.v2"
        assert st._current._conn is not None and st._current._conn.info.backend_pid != pid  # listening again
        loads = st._current.loads
        assert st.current_versions()["redline"][1] == "redline.v2"
        assert st._current.loads == loads  # cached again

        # a listener that died silently looks like a quiet one: it is replaced every max_age_s anyway
        import time

        st._current._max_age_s = 0.05
        pid = st._current._conn.info.backend_pid
        time.sleep(0.1)
        st.current_versions()
        assert st._current._conn.info.backend_pid != pid and st._current.loads == loads + 1
    finally:
        other.close()
        st.close()


def _stars() -> list:
    """Four spiky polygons of 700 vertices side by side: each cut into a few pieces."""
    rng = np.random.default_rng(3)
    stars = []
    for k in range(4):
        a = np.sort(rng.uniform(0, 2 * np.pi, 700))
        r = rng.uniform(300, 900, 700)
        stars.append(shapely.make_valid(shapely.Polygon(np.column_stack(
            [380_000 + 1200 * k + r * np.cos(a), 3_270_000 + r * np.sin(a)]))))
    return stars


def test_a_tight_budget_refuses_wholes_or_their_projections_and_measures_the_same(tmp_path, catalog, pg_url):
    """Small features cut into a few pieces are held whole beside the pieces; a version whose pieces and
    wholes do not fit the vertex budget is left to SQL (which hands out the same wholes), and a whole is
    projected into a zone only while there is room. Every way measures the same."""
    from app.screening.overlay import overlay
    from app.settings import Settings
    from app.store.pieceindex import whole_candidates
    from tests.test_screening import footprint

    data = LayerData("eco_redline", to_lonlat(np.array(_stars(), dtype=object)), [{"name": f"s{i}"} for i in range(4)],
                     ImportReport(file_sha256="0" * 64, source_file="t"))
    probes = [gk_box(-200 + 900 * k, -300, 700, 500) for k in range(4)] + [gk_box(1000, -100, 1500, 200)]
    runs, held = {}, {}
    for name in ("roomy", "no projections of wholes", "no room for the wholes"):
        if name == "roomy":
            budget = 10_000_000
        else:
            pieces_v, more = held["pieces"], held["wholes"]
            # room for the pieces, the wholes and one projection of the pieces, and nothing more; or less
            # than the pieces and wholes together
            budget = 2 * pieces_v + more if name == "no projections of wholes" else pieces_v + pieces_v // 2
        st = make_store("postgis", tmp_path, catalog, Settings(database_url=pg_url, piece_cache_vertices=budget))
        try:
            vid = st.publish("redline", data, PROV).id
            out = []
            for probe in probes:
                res = overlay(st, footprint(probe), distance_m=300)
                out.append(sorted((o.feature_id, round(o.area_m2, 6), round(o.area_m2_ellipsoidal, 6),
                                   round(o.distance_m, 6)) for o in res.overlaps))
                out.append([(x.layer, round(x.area_m2, 6), round(x.area_m2_ellipsoidal, 6)) for x in res.layers])
            idx = st._piece_index(vid)
            if name == "no room for the wholes":
                assert idx is None  # answered by SQL, loaded once to learn that
                assert st._piece_need[vid] > budget
            else:
                n_tree = len(idx.whole_at)
                assert len(idx.pieces) == n_tree + 4 and idx.weight <= budget
                if name == "roomy":
                    want, more = whole_candidates(idx.pieces[:n_tree], idx.piece_fid[:n_tree])
                    held = {"pieces": int(shapely.get_num_coordinates(idx.pieces[:n_tree]).sum()), "wholes": more}
                    assert len(want) == 4 and idx.wholes_projected
                else:
                    assert idx.planes and not idx.wholes_projected
            runs[name] = out
        finally:
            st.close()
    assert any(row and row[0][1] > 0 for row in runs["roomy"][::2])
    assert runs["roomy"] == runs["no projections of wholes"] == runs["no room for the wholes"]


def test_overlay_is_the_same_from_memory_planes_and_from_sql(tmp_path, catalog, pg_url):
    """In memory, pieces come projected into the probe's GK plane (built once per version and zone);
    from SQL or on the embedded store's first probe, they are projected per probe. The overlay must not
    tell the difference: same features, areas, ellipsoidal areas and distances on every path."""
    from app.screening.overlay import overlay
    from app.settings import Settings
    from tests.test_screening import footprint

    stars = _stars()
    probes = [gk_box(-200 + 900 * k, -300, 700, 500) for k in range(4)] + [gk_box(0, 1300, 300)]
    runs = {}
    for name, budget in (("sql", 0), ("memory", 10_000_000), ("embedded", None)):
        if budget is None:
            st = make_store("embedded", tmp_path, catalog)
        else:
            st = make_store("postgis", tmp_path, catalog, Settings(database_url=pg_url, piece_cache_vertices=budget))
        try:
            st.publish("redline", LayerData("eco_redline", to_lonlat(np.array(stars, dtype=object)),
                                            [{"name": f"s{i}"} for i in range(4)],
                                            ImportReport(file_sha256="0" * 64, source_file="t")), PROV)
            out = []
            for probe in probes:
                fp = footprint(probe)
                res = overlay(st, fp, distance_m=700)
                out.append(sorted((o.feature_id, round(o.area_m2, 6), round(o.area_m2_ellipsoidal, 6),
                                   round(o.distance_m, 6)) for o in res.overlaps))
                out.append([(x.layer, round(x.area_m2, 6), round(x.area_m2_ellipsoidal, 6)) for x in res.layers])
                # the shapes handed out, also to an intersects probe (no window): the same pieces and wholes
                out.append(sorted((p.fid, shapely.to_wkb(p.geometry, hex=True)) for p in st.candidate_pieces(fp.geometry)))
                held = [p.geometry_gk is not None
                        for p in st.candidate_pieces(fp.geometry, distance_m=700, gk_epsg=4544)]
                assert held and (all(held) if name != "sql" else not any(held))
            runs[name] = out
        finally:
            st.close()
    assert runs["sql"] == runs["memory"] == runs["embedded"]
    assert any(row and row[0][1] > 0 for row in runs["sql"][::3]) and any(
        row and row[0][3] > 0 for row in runs["sql"][::3])  # both overlaps and distances were measured


def test_zone_projections_count_against_the_piece_budget():
    """A version's pieces projected into a GK zone are held within the same vertex budget as the
    pieces: counted at what they hold, built only for a probe that finds pieces, refused when over."""
    from app.store.pieceindex import PieceIndex, PieceIndexCache

    pieces = np.array([shapely.box(103 + i * 0.01, 29, 103.005 + i * 0.01, 29.005) for i in range(12)], dtype=object)
    cache = PieceIndexCache(max_vertices=150)
    idx = cache.get("v", lambda: PieceIndex.build(pieces, np.arange(12), {i: {} for i in range(12)},
                                                  {i: 1.0 for i in range(12)}), estimate=60)
    assert idx.weight == 60
    nowhere = shapely.box(110, 40, 110.1, 40.1)
    assert idx.query("l", "eco_redline", "v", nowhere, None, gk_epsg=4544, room=cache.room_for) == [] and not idx.planes
    probe = shapely.box(103, 29, 103.02, 29.01)
    got = idx.query("l", "eco_redline", "v", probe, None, gk_epsg=4544, room=cache.room_for)
    assert got and all(p.geometry_gk is not None for p in got)
    assert idx.weight == 120 and cache.room_for(30) and not cache.room_for(31)
    got = idx.query("l", "eco_redline", "v", probe, None, gk_epsg=4543, room=cache.room_for)  # another zone: 60 more do not fit
    assert got and all(p.geometry_gk is None for p in got) and idx.weight == 120
    cache.budget = 200  # room frees up (a version left the cache, or a bigger budget): built after all
    got = idx.query("l", "eco_redline", "v", probe, None, gk_epsg=4543, room=cache.room_for)
    assert got and all(p.geometry_gk is not None for p in got) and idx.weight == 180


def test_a_republished_layer_takes_the_memory_of_its_old_version(tmp_path, catalog, pg_url):
    """With room for one version's pieces, re-publishing a layer must not leave the new (current)
    version to SQL for the life of the worker: the superseded version gives way. A re-run pinned to
    the old version is answered from SQL instead, and never pushes the current one out."""
    from app.settings import Settings

    feats = [gk_box(300 * i, 0, 200) for i in range(20)]
    st = make_store("postgis", tmp_path, catalog, Settings(database_url=pg_url, piece_cache_vertices=150))
    try:
        st.publish("redline", layer_data(feats, [f"f{i}" for i in range(20)]), PROV)  # 100 vertices
        assert st._piece_index("redline.v1") is not None
        st.publish("redline", layer_data(feats, [f"g{i}" for i in range(20)]), PROV)
        assert st._piece_index("redline.v2") is not None  # v1 gave way
        assert st._piece_index("redline.v1") is None  # the old one: SQL answers, v2 stays
        assert st._piece_index("redline.v2") is not None
        probe = to_lonlat(gk_box(0, 0, 100))
        assert {p.version_id for p in st.candidate_pieces(probe, versions={"redline": "redline.v1"})} == {"redline.v1"}
    finally:
        st.close()


def test_overlays_in_parallel_on_a_cold_store_measure_as_one_at_a_time(store):
    """Worker threads screening at once on a just-published version race to load its pieces and wholes,
    build the zone's plane, project wholes and make the Piece records; none of it may change a result:
    the same features, areas and distances as the same probes one at a time afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from app.screening.overlay import overlay
    from tests.test_screening import footprint

    store.publish("redline", LayerData("eco_redline", to_lonlat(np.array(_stars(), dtype=object)),
                                       [{"name": f"s{i}"} for i in range(4)], ImportReport(file_sha256="0" * 64)), PROV)
    probes = [gk_box(-300 + 150 * k, -400 + 40 * k, 500, 400) for k in range(24)]
    fps = [footprint(p) for p in probes]

    def measure(fp) -> list:
        res = overlay(store, fp, distance_m=200)
        return sorted((o.feature_id, round(o.area_m2, 6), round(o.area_m2_ellipsoidal, 6), round(o.distance_m, 6))
                      for o in res.overlaps) + [(x.layer, round(x.area_m2, 6)) for x in res.layers]

    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(measure, fps))
    alone = [measure(fp) for fp in fps]
    assert together == alone
    assert sum(1 for rows in alone if any(r[1] > 0 for r in rows if r[0].startswith("redline.v1."))) >= 12
