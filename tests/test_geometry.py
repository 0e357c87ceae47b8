"""Subdivision and CRS rules that both stores rely on."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import geometry
from app.domain.crs import gk3_epsg, gk3_zone_of, gk6_epsg, infer_crs


def wiggly(cx: float, cy: float, r0: float, n: int, seed: int) -> shapely.Polygon:
    rng = np.random.default_rng(seed)
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = r0 * (1 + 0.25 * np.sin(23 * a + seed) * np.cos(7 * a) + rng.normal(0, 0.004, n))
    return shapely.make_valid(shapely.Polygon(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)])))


def _without_points_on_cuts(piece) -> int:
    """Vertices of a piece, not counting those added along a cut (between neighbours on the same
    meridian or parallel): those come on top of ``max_vertices``."""
    n = 0
    for ring in shapely.get_rings(piece):
        xy = shapely.get_coordinates(ring)[:-1]
        prev, nxt = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
        on_cut = ((prev[:, 0] == xy[:, 0]) & (xy[:, 0] == nxt[:, 0])) | ((prev[:, 1] == xy[:, 1]) & (xy[:, 1] == nxt[:, 1]))
        n += int((~on_cut).sum()) + 1
    return n


def check_pieces(geoms, owner, pieces, max_vertices):
    assert max(_without_points_on_cuts(p) for p in pieces) <= max_vertices
    assert shapely.is_valid(pieces).all()
    for i, g in enumerate(geoms):
        mine = pieces[owner == i]
        assert len(mine) >= 1
        assert shapely.area(mine).sum() == pytest.approx(g.area, rel=1e-9)
        assert shapely.union_all(mine).symmetric_difference(g).area <= 1e-9 * g.area


def test_subdivide_pieces_are_small_valid_and_cover_each_feature():
    geoms = np.array([wiggly(103 + i, 29, 0.1, 3000 + 500 * i, i) for i in range(4)]
                     + [shapely.LineString(np.column_stack([np.linspace(103, 104, 2000), np.full(2000, 29.0)]))],
                     dtype=object)
    owner, pieces = geometry.subdivide(geoms, 256)
    check_pieces(geoms[:4], owner, pieces, 256)
    lines = pieces[owner == 4]
    assert shapely.length(lines).sum() == pytest.approx(geoms[4].length, rel=1e-12)


def test_helper_process_gives_the_same_pieces(monkeypatch):
    geoms = np.array([wiggly(103 + i, 29, 0.1, 4000, i) for i in range(5)], dtype=object)
    local_owner, local_pieces = geometry.subdivide_local(geoms, 256)
    monkeypatch.setattr(geometry, "PARALLEL_MIN_VERTICES", 0)
    owner, pieces = geometry.subdivide(geoms, 256)
    assert geometry._HELPER.proc is not None and geometry._HELPER.proc.poll() is None  # really used
    key = lambda o, p: sorted(zip(o.tolist(), shapely.to_wkb(p, output_dimension=2)))  # noqa: E731
    assert key(owner, pieces) == key(local_owner, local_pieces)
    # a dead helper is replaced transparently
    geometry._HELPER.proc.kill()
    geometry._HELPER.proc.wait()
    owner2, pieces2 = geometry.subdivide(geoms, 256)
    assert key(owner2, pieces2) == key(local_owner, local_pieces)


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 2000), st.integers(0, 10_000), st.sampled_from([8, 64, 256]))
def test_subdivide_property(n: int, seed: int, max_vertices: int):
    g = wiggly(103.5, 30.0, 0.05, n, seed)
    owner, pieces = geometry.subdivide(np.array([g], dtype=object), max_vertices)
    check_pieces([g], owner, pieces, max(max_vertices, 5))


@pytest.mark.parametrize("lon,epsg3,epsg6", [(103.76, 4544, 4507), (75.0, 4534, 4502), (134.9, 4554, 4512)])
def test_gk_zone_codes(lon, epsg3, epsg6):
    assert gk3_epsg(lon) == epsg3 and gk6_epsg(lon) == epsg6
    assert gk3_epsg(lon, prefixed=True) == epsg3 - 21
    zone = round(lon / 3)
    assert gk3_zone_of(epsg3) == (zone, False) and gk3_zone_of(epsg3 - 21) == (zone, True)
    assert gk3_zone_of(epsg6) is None and gk3_zone_of(4490) is None and gk3_zone_of("EPSG:4544") is None


@pytest.mark.parametrize("bounds,epsg,swapped", [
    ((35_380_000, 3_270_000, 35_390_000, 3_280_000), 4523, False),
    ((3_270_000, 35_380_000, 3_280_000, 35_390_000), 4523, True),
    ((18_380_000, 3_270_000, 18_390_000, 3_280_000), 4496, False),
    ((103.7, 29.5, 103.8, 29.6), 4490, False),
])
def test_infer_crs(bounds, epsg, swapped):
    g = infer_crs(*bounds)
    assert g is not None and (g.epsg, g.swapped) == (epsg, swapped)


@pytest.mark.parametrize("bounds", [
    (380_000, 3_270_000, 390_000, 3_280_000),  # GK without zone prefix: ambiguous
    (2.3, 48.8, 2.4, 48.9),  # lon/lat outside China
    (35_380_000, 3_270_000, 36_390_000, 3_280_000),  # spans two zones
    (float("nan"), 0, 1, 1),
])
def test_infer_crs_refuses(bounds):
    assert infer_crs(*bounds) is None


def test_dissolve_unions_only_what_touches():
    disjoint = [shapely.box(i * 10, 0, i * 10 + 5, 5) for i in range(50)]
    touching = [shapely.box(1000, 0, 1010, 10), shapely.box(1010, 0, 1020, 10)]  # share an edge
    overlapping = [shapely.box(2000, 0, 2010, 10), shapely.box(2005, 5, 2015, 15)]
    geoms = np.array(disjoint + touching + overlapping, dtype=object)
    out = geometry.dissolve(geoms)
    assert out.is_valid and out.equals(shapely.union_all(geoms))
    assert len(shapely.get_parts(out)) == 52 and out.area == pytest.approx(50 * 25 + 200 + 175)


def _grid(n: int, per_edge: int = 4) -> list:
    """An n × n grid of 10 m cells whose shared edges carry the same vertices (a cadastral coverage)."""
    t = np.linspace(0, 1, per_edge + 1)[:-1]
    cells = []
    for i in range(n):
        for j in range(n):
            x, y = i * 10.0, j * 10.0
            cells.append(shapely.Polygon(np.concatenate([
                np.c_[x + 10 * t, np.full(per_edge, y)], np.c_[np.full(per_edge, x + 10), y + 10 * t],
                np.c_[x + 10 - 10 * t, np.full(per_edge, y + 10)], np.c_[np.full(per_edge, x), y + 10 - 10 * t]])))
    return cells


@pytest.mark.parametrize("split", [False, True], ids=["whole", "in halves"])
@pytest.mark.parametrize("case", ["coverage", "coverage with a gap", "one cell overlaps", "unmatched edge",
                                  "edge moved by 1 mm", "one cell inside another", "a cell twice"])
def test_dissolve_of_tiled_parcels_equals_the_overlay_union(case, split, monkeypatch):
    """Parcels that tile the land take GEOS's coverage union (a big group in two halves on two threads);
    anything else the overlay union. Both give the overlay union's answer, and the overlay union is used
    exactly when the parcels are no coverage."""
    monkeypatch.setattr(geometry, "COVERAGE_SPLIT_MIN", 16 if split else 10**9)
    halves = []
    real_coverage = shapely.coverage_union_all
    monkeypatch.setattr(shapely, "coverage_union_all", lambda g, **kw: halves.append(len(g)) or real_coverage(g, **kw))
    cells = _grid(10)
    if case == "coverage with a gap":
        cells.pop(55)
    elif case == "one cell overlaps":
        cells.append(shapely.box(13, 13, 27, 27))
    elif case == "unmatched edge":  # a vertex on a shared edge that the neighbour lacks
        c = np.asarray(cells[0].exterior.coords)
        cells[0] = shapely.Polygon(np.insert(c, 6, [10.0, 3.3], axis=0))
    elif case == "edge moved by 1 mm":  # a sliver of overlap with the neighbour
        c = np.asarray(cells[0].exterior.coords).copy()
        c[5:9, 0] = 10.001
        cells[0] = shapely.Polygon(c)
    elif case == "one cell inside another":
        cells.append(shapely.box(12, 12, 18, 18))
    elif case == "a cell twice":
        cells.append(cells[3])
    geoms = np.array(cells, dtype=object)
    expected = shapely.union_all(geoms)
    overlay_unions = []
    real = shapely.union_all
    monkeypatch.setattr(shapely, "union_all", lambda g, **kw: overlay_unions.append(len(g)) or real(g, **kw))
    out = geometry.dissolve(geoms)
    assert out.is_valid
    assert shapely.symmetric_difference(out, expected).area < 1e-9
    assert out.area == pytest.approx(expected.area, rel=1e-12)
    assert bool(overlay_unions) == (not case.startswith("coverage"))
    if not split:
        assert len(halves) == 1
    elif case.startswith("coverage"):
        assert len(halves) == 3  # west, east, and the two together
    else:
        # the halves tried (GEOS may refuse one as no coverage, and the other is then cancelled if its
        # thread has not taken it yet: one call or more), never the whole group at once
        assert 1 <= len(halves) <= 3 and max(halves[:2]) < len(cells)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 600), st.integers(0, 10_000))
def test_connected_components_match_a_plain_union_find(n, edges, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, edges), rng.integers(0, n, edges)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in zip(a.tolist(), b.tolist()):
        ri, rj = find(i), find(j)
        parent[max(ri, rj)] = min(ri, rj)
    assert geometry.connected_components(n, a, b).tolist() == [find(i) for i in range(n)]


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.floats(50, 3000), st.integers(0, 10_000))
def test_dissolve_equals_union_all(n, spread, seed):
    """Scattered parcels, from all apart to one big overlapping heap (groups of every size, each united
    pairwise round by round, big ones through the coverage attempt): the union is the union."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, spread, (n, 2))
    polys = np.array([shapely.Point(x, y).buffer(r, 8) for (x, y), r in zip(centres, rng.uniform(5, 40, n))],
                     dtype=object)
    out = geometry.dissolve(polys)
    expected = shapely.union_all(polys)
    assert out.is_valid
    assert shapely.symmetric_difference(out, expected).area <= 1e-9 * expected.area
    assert len(shapely.get_parts(out)) == len(shapely.get_parts(expected))


def test_projected_edges_are_cut_before_storage_so_the_stored_shape_keeps_to_the_drawn_one():
    """A 20 km edge straight in GK zone 30 (40° N) runs metres off a straight lon/lat line: stored with
    its edges cut to 200 m, every stored segment's midpoint lies within 1 mm of the drawn edge."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4490, 4539, always_xy=True).transform(90.0, 40.0)
    strip = shapely.box(x - 10_000, y, x + 10_000, y + 200)
    for stored, worst in ((geometry.to_storage(strip, 4539), 1e-3),
                          (geometry.reproject(strip, 4539, 4490), None)):  # without the cut
        ll = shapely.get_coordinates(stored)
        mids = (ll[1:] + ll[:-1]) / 2
        gx, gy = Transformer.from_crs(4490, 4539, always_xy=True).transform(mids[:, 0], mids[:, 1])
        off = shapely.distance(strip.boundary, shapely.points(np.column_stack([gx, gy]))).max()
        if worst is None:
            assert off > 1.0  # metres: why the cut is there
        else:
            assert off < worst
    bowtie = shapely.Polygon([(x, y), (x + 1000, y + 1000), (x + 1000, y), (x, y + 1000)])
    kept = geometry.to_storage(bowtie, 4539)  # cut ring by ring: still the bow-tie drawn, both lobes
    assert shapely.get_num_coordinates(kept) > 5 and not kept.is_valid  # for the repair step to report
    assert shapely.make_valid(geometry.from_crs(kept, 4490, 4539)).area == pytest.approx(500_000, rel=1e-6)
    mixed = shapely.GeometryCollection([shapely.LineString([(x, y), (x + 1000, y)]), shapely.Point(x, y),
                                        shapely.box(x, y, x + 50, y + 50)])
    cut = geometry.to_storage(np.array([mixed, shapely.Point(x, y)], dtype=object), 4539)
    assert [shapely.get_num_coordinates(g) for g in shapely.get_parts(cut[0])] == [6, 1, 5]
    assert shapely.get_type_id(cut[1]) == 0


def test_pieces_still_tile_their_feature_in_the_gk_plane():
    """A 120 km redline drawn in GK: cut into pieces along long lon/lat lines, which the GK plane bends.
    With the cuts densified like every stored edge the pieces' GK images still tile the feature (a
    review measured 0.54 km² of gaps between them before)."""
    from pyproj import Transformer

    x, y = Transformer.from_crs(4490, 4547, always_xy=True).transform(115.0, 35.0)
    drawn = shapely.Point(x, y).buffer(60_000, 64)  # GK metres, edges ~5.9 km
    stored = geometry.to_storage(drawn, 4547)
    owner, pieces = geometry.subdivide(np.array([stored], dtype=object), 256)
    assert len(pieces) > 8
    feature_gk = geometry.to_gk(stored, 4547)
    pieces_gk = geometry.to_gk(pieces, 4547)
    assert feature_gk.area == pytest.approx(drawn.area, rel=1e-9)
    assert shapely.area(pieces_gk).sum() == pytest.approx(feature_gk.area, rel=1e-9)
    gaps = shapely.difference(feature_gk, shapely.union_all(pieces_gk)).area
    assert gaps < 1.0  # m², of 11,300 km²


def test_every_cgcs2000_gk_code_maps_to_its_zone_and_back():
    """EPSG:4491–4554 (3° and 6° zones, with and without the zone prefix) against PROJ's own definitions:
    the central meridian and false easting say the zone, the width and the prefix."""
    from pyproj import CRS

    from app.domain.crs import cgcs2000_gk_epsg, gk_zone_of

    for code in range(4491, 4555):
        zone, width, prefixed = gk_zone_of(code)
        params = {p.name: p.value for p in CRS.from_epsg(code).coordinate_operation.params}
        cm = zone * 3 if width == 3 else zone * 6 - 3
        assert params["Longitude of natural origin"] == cm, code
        assert params["False easting"] == (zone * 1_000_000 if prefixed else 0) + 500_000, code
        assert cgcs2000_gk_epsg(zone, width, prefixed) == code
    assert gk_zone_of(4490) is None and gk_zone_of(4555) is None and gk_zone_of("EPSG:4544") is None


def test_only_geometry_wide_enough_for_a_long_edge_is_looked_at():
    """An edge is no longer than its geometry's box is across: what cannot hold a long edge is returned as
    it is, the rest is cut as before, including a diagonal edge in a box whose sides are short."""
    small = shapely.box(0, 0, 100, 100)  # 141 m across
    square = shapely.box(0, 0, 150, 150)  # 212 m across, every edge 150 m: nothing to cut
    strip = shapely.box(0, 0, 1000, 10)
    d = 200.5 / np.sqrt(2)
    wedge = shapely.Polygon([(0, 0), (d, 0), (0, d)])  # sides 141.8 m, hypotenuse 200.5 m
    out = geometry.cut_long_edges(np.array([small, square, strip, wedge, None], dtype=object), 200.0)
    assert out[0] is small and out[4] is None
    assert shapely.equals_exact(out[1], square, 0)
    assert shapely.get_num_coordinates(out[2]) == 5 + 2 * 4  # each 1,000 m side in five
    assert shapely.get_num_coordinates(out[3]) == 4 + 1
    assert geometry.cut_long_edges(small, 200.0) is small


@pytest.mark.parametrize("epsg, x0", [(4544, 380_000), (4529, 41_640_000)], ids=["3° plane", "zone prefix"])
def test_ellipsoidal_area_from_the_plane_agrees_with_geodesic_areas(epsg, x0):
    """Parcels measured by the plane's areal scale at their centroids, a part wider than 2 km vertex by
    vertex: each agrees with pyproj's geodesic area of the same shape in lon/lat."""
    from pyproj import Geod

    rng = np.random.default_rng(5)
    a = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    cx, cy = x0 + rng.uniform(0, 150_000, 300), 3_300_000 + rng.uniform(0, 150_000, 300)
    r = rng.uniform(20, 400, 300)[:, None] * (1 + 0.2 * np.sin(3 * a))[None, :]
    parcels = shapely.polygons(np.stack([cx[:, None] + r * np.cos(a), cy[:, None] + r * np.sin(a)], -1))
    wide = shapely.segmentize(shapely.box(x0, 3_500_000, x0 + 150_000, 3_650_000), 100)
    # parcels of one upload lying far outside the zone (8° and 12° of longitude from its meridian), where
    # the scale's series drifts (a review measured 2.4e-5 on such an upload before they were projected)
    far = shapely.transform(parcels[:100], lambda xy: xy + [800_000.0, 0.0])
    farther = shapely.transform(parcels[100:200], lambda xy: xy - [1_000_000.0, 0.0])
    geod = Geod(ellps="GRS80")
    for parts in (parcels, np.array([wide], dtype=object), np.concatenate([far, farther])):
        lonlat = geometry.reproject(parts, epsg, 4490)
        expected = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in lonlat)
        assert geometry.ellipsoidal_areas_in_plane(parts, epsg).sum() == pytest.approx(expected, rel=1e-7)
        assert shapely.area(parts).sum() != pytest.approx(expected, rel=1e-5)  # the plane's scale is real


def test_gk_areal_scale_agrees_with_proj():
    """The arithmetic areal scale of the CGCS2000 GK planes against PROJ's own factors, over China's
    latitudes and a zone's width either side of its meridian (prefixed codes too)."""
    from pyproj import Proj, Transformer

    from app.domain.crs import gk_areal_scale, gk_false_easting

    rng = np.random.default_rng(3)
    for epsg, meridian in ((4534, 75.0), (4544, 105.0), (4554, 135.0), (4523, 105.0)):
        lon, lat = meridian + rng.uniform(-1.6, 1.6, 2000), rng.uniform(16.0, 54.0, 2000)
        x, y = Transformer.from_crs(4490, epsg, always_xy=True).transform(lon, lat)
        expected = np.asarray(Proj(f"EPSG:{epsg}").get_factors(lon, lat).areal_scale)
        got = gk_areal_scale(np.asarray(x) - gk_false_easting(epsg), np.asarray(y))
        assert np.abs(got / expected - 1).max() < 5e-8
        assert np.abs(expected - 1).max() > 1e-4  # (the scale is there to be got right)


def test_dissolve_keeps_the_parts_in_the_order_they_came():
    """Parts alone and parts of a union come out in the order of their groups, as they did before the
    single parts were passed through without copying them."""
    ell = shapely.Polygon([(0, 0), (10, 0), (10, 2), (2, 2), (2, 10), (0, 10)])
    inner = shapely.box(5, 5, 8, 8)  # inside the L's box, apart from it: a group of two, united
    far = shapely.box(100, 0, 101, 1)
    parts = geometry.dissolve_parts(np.array([ell, inner, far], dtype=object))
    assert [p.normalize().wkt for p in parts] == [g.normalize().wkt for g in (ell, inner, far)]


def test_cutting_edges_refuses_to_add_points_without_end():
    """A far-off vertex would ask for more points than memory holds (or overflow the count): refused with
    a ValueError the callers turn into a 4xx, never a crash."""
    far = shapely.Polygon([(0, 0), (1e300, 0), (0, 100), (0, 0)])
    with pytest.raises(ValueError):
        geometry.cut_long_edges(far, 200.0)
    with pytest.raises(ValueError):
        geometry.cut_long_edges(shapely.LineString([(0, 0), (1e10, 0)]), 200.0)
    assert shapely.get_num_coordinates(geometry.cut_long_edges(shapely.LineString([(0, 0), (1e6, 0)]), 200.0)) == 5001


def test_interiors_meet_tells_a_tiling_from_overlapping_features():
    """Shared edges and corners do not count; an overlap, a feature inside another, or a duplicate does,
    beyond the slack."""
    from app.domain.geometry import interiors_meet

    tiles = [shapely.box(x, y, x + 1, y + 1) for x in range(30) for y in range(30)]  # 900 tiles, edges shared
    assert not interiors_meet(np.array(tiles, dtype=object))
    assert not interiors_meet(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)], dtype=object))  # a corner
    assert not interiors_meet(np.array([shapely.box(0, 0, 1, 1), None, shapely.Polygon()], dtype=object))
    for extra in (shapely.box(0.5, 0.5, 1.5, 1.5),  # overlaps four tiles
                  shapely.box(10.2, 10.2, 10.4, 10.4),  # inside one
                  shapely.box(29, 29, 30, 30),  # a duplicate of the last
                  shapely.box(-5, -5, 40, 40)):  # holds them all
        assert interiors_meet(np.array([*tiles, extra], dtype=object))
    # neighbours meant to share an edge whose coordinates differ in the last bit (0.1 steps): forgiven
    # within the slack, and only within it
    cells = np.array([shapely.box(i * 0.1, j * 0.1, i * 0.1 + 0.1, j * 0.1 + 0.1) for i in range(30)
                      for j in range(30)], dtype=object)
    assert interiors_meet(cells) and not interiors_meet(cells, slack=1e-12)
    assert interiors_meet(np.array([*tiles, shapely.box(0.5, 0.5, 0.6, 0.6)], dtype=object), slack=0.009)
    # a touch along an edge with vertices not shared (a T-junction) is still no overlap
    assert not interiors_meet(np.array([shapely.box(0, 0, 2, 1), shapely.Polygon([(0, 1), (1, 1), (2, 1), (2, 2), (0, 2)])],
                                       dtype=object))


def test_overlap_facts_apply_to_areal_layers_only():
    """Points and lines never share an area, so nothing is claimed for them (a review case: duplicate
    points read as 'no overlap'); the longest edge is measured in metres on lon/lat."""
    from app.domain.geometry import apart, overlap_facts

    pts = np.array([shapely.Point(103.5, 29.5), shapely.Point(103.5, 29.5)], dtype=object)
    assert overlap_facts(pts) == {"features_overlap": None, "longest_edge_m": 0.0}
    line = np.array([shapely.LineString([(103.5, 29.5), (103.51, 29.5)])], dtype=object)
    facts = overlap_facts(line)
    assert facts["features_overlap"] is None and facts["longest_edge_m"] == pytest.approx(969, abs=2)
    cells = np.array([shapely.box(103.5, 29.5, 103.501, 29.501), shapely.box(103.501, 29.5, 103.502, 29.501)],
                     dtype=object)
    facts = overlap_facts(cells)
    assert facts == {"features_overlap": False, "longest_edge_m": pytest.approx(111.3, abs=0.2)}
    assert apart(**facts) and not apart(False, 300.0) and not apart(None, 100.0) and not apart(True, 100.0)
