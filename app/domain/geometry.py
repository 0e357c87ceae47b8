"""Geometry operations shared by ingest, both stores and the overlay."""

from __future__ import annotations

import atexit
import math
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry

from app.domain.crs import STORAGE_EPSG, gk3_epsg, gk_areal_scale, gk_false_easting, transformer

POLYGONAL = {"Polygon", "MultiPolygon"}
LINEAL = {"LineString", "MultiLineString", "LinearRing"}
PUNTAL = {"Point", "MultiPoint"}
CPUS = os.cpu_count() or 1  # (asked once: 7 µs a call here, on the API's hot path)


CHUNKED_MIN_VERTICES = 50_000  # below this a thread's start-up (and pyproj's set-up in it) costs more


def extent(geoms: Any) -> np.ndarray:
    """``shapely.total_bounds`` (NaN where there is nothing) without its NaN-aware reductions: 20 → 4 µs,
    asked on every footprint the API reads. Like it, the box of the geometries' bounds: a polygon's are
    its shell's, and GEOS passes over NaN. Checks that must see every vertex use ``coordinate_box``."""
    b = shapely.bounds(np.asarray(geoms, dtype=object)).reshape(-1, 4)
    if len(b) == 0:
        return np.full(4, np.nan)
    return np.concatenate([np.fmin.reduce(b[:, :2], axis=0), np.fmax.reduce(b[:, 2:], axis=0)])


def coordinate_box(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """The box of every coordinate, holes included; NaN if any is NaN (a stray hole vertex, or one PROJ
    could not place, got past checks built on bounds). Column by column: reducing an (n, 2) array along
    its first axis took 46 ms for 2.6 M vertices, against 8."""
    if len(x) == 0:
        return (math.nan,) * 4
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def chunked(fn: Callable[[np.ndarray], Any], geoms: np.ndarray, workers: int | None = None) -> list[Any]:
    """Run ``fn`` over slices of ``geoms`` in threads (GEOS and PROJ release the GIL), balanced by vertex
    count; in this thread when there are too few vertices to pay for the threads."""
    geoms = np.asarray(geoms, dtype=object)
    workers = workers or CPUS
    if workers == 1 or len(geoms) < 2 * workers:
        return [fn(geoms)]
    weight = np.cumsum(shapely.get_num_coordinates(geoms))
    if weight[-1] < CHUNKED_MIN_VERTICES:
        return [fn(geoms)]
    cuts = np.searchsorted(weight, weight[-1] * np.arange(1, workers) / workers)
    parts = [p for p in np.split(geoms, cuts) if len(p)]
    with ThreadPoolExecutor(len(parts)) as pool:
        return list(pool.map(fn, parts))


def is_valid(geoms: np.ndarray) -> np.ndarray:
    return np.concatenate(chunked(shapely.is_valid, geoms))


PARALLEL_MIN_VERTICES = 200_000


class _Helper:
    """One persistent ``subdivide_worker`` process, started on first use and restarted if it dies."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.domain.subdivide_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        return self.proc

    def stop(self) -> None:
        """End the helper; used at exit and whenever a job did not complete cleanly (its pipe may
        still hold an old answer, which the next job must never read)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


_HELPER = _Helper()
atexit.register(_HELPER.stop)


def subdivide(geoms: np.ndarray, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``subdivide_local``, with the first half of a large layer cut by the helper process.

    Falls back to doing everything here when the layer is small, the machine has one core, another
    publish is using the helper, or the helper fails.
    """
    geoms = np.asarray(geoms, dtype=object)
    counts = shapely.get_num_coordinates(geoms)
    if CPUS < 2 or len(geoms) < 2 or int(counts.sum()) < PARALLEL_MIN_VERTICES:
        return subdivide_local(geoms, max_vertices)
    if not _HELPER.lock.acquire(blocking=False):
        return subdivide_local(geoms, max_vertices)
    try:
        cut = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2)) + 1
        cut = min(max(cut, 1), len(geoms) - 1)
        try:
            proc = _HELPER.start()
            pickle.dump((max_vertices, list(shapely.to_wkb(geoms[:cut]))), proc.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()  # type: ignore[union-attr]
        except OSError:
            _HELPER.stop()
            return subdivide_local(geoms, max_vertices)
        try:
            owner_b, pieces_b = subdivide_local(geoms[cut:], max_vertices)
        except BaseException:
            _HELPER.stop()  # its answer is never read: it must not reach the next job
            raise
        try:
            owner_a, wkb_a = pickle.load(proc.stdout)  # type: ignore[arg-type]
            pieces_a = shapely.from_wkb(wkb_a)
        except Exception:
            _HELPER.stop()
            owner_a, pieces_a = subdivide_local(geoms[:cut], max_vertices)
        return np.concatenate([owner_a, owner_b + cut]), np.concatenate([pieces_a, pieces_b])
    finally:
        _HELPER.lock.release()


def subdivide_local(geoms: np.ndarray, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Split geometries into pieces of at most ``max_vertices`` vertices, like ``ST_Subdivide``.

    Returns ``(owner_index, pieces)``. Each split halves the bounding box along its longer side
    and clips it to both halves (GEOS rectangle clipping, ~35× faster than a general intersection),
    level by level for all geometries at once. Pieces left invalid by the clipping are mended.
    """
    work = np.asarray(geoms, dtype=object)
    owners = np.arange(len(work))
    dims = shapely.get_dimensions(work)
    done_owner: list[np.ndarray] = []
    done_geom: list[np.ndarray] = []
    cuts_x: list[np.ndarray] = []  # where pieces were cut, to find the cut edges again
    cuts_y: list[np.ndarray] = []
    for _ in range(40):
        if len(work) == 0:
            break
        work, idx = shapely.get_parts(work, return_index=True)
        owners = owners[idx]
        # box intersections of polygons can leave touching lines or points: keep the owner's dimension
        keep = ~shapely.is_empty(work) & (shapely.get_dimensions(work) == dims[owners])
        work, owners = work[keep], owners[keep]
        small = shapely.get_num_coordinates(work) <= max_vertices
        done_owner.append(owners[small])
        done_geom.append(work[small])
        work, owners = work[~small], owners[~small]
        if len(work) == 0:
            break
        b = shapely.bounds(work)
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        wide = w >= h
        # pad the side that is not cut: GEOS refuses a flat rectangle (a straight horizontal line)
        pad = 1e-9 * np.maximum(np.maximum(w, h), 1.0)
        bx0, by0, bx1, by1 = b[:, 0] - pad, b[:, 1] - pad, b[:, 2] + pad, b[:, 3] + pad
        midx = (b[:, 0] + b[:, 2]) / 2
        midy = (b[:, 1] + b[:, 3]) / 2
        cuts_x.append(midx[wide])
        cuts_y.append(midy[~wide])
        lo = np.column_stack([bx0, by0, np.where(wide, midx, bx1), np.where(wide, by1, midy)])
        hi = np.column_stack([np.where(wide, midx, bx0), np.where(wide, by0, midy), bx1, by1])
        clip = shapely.clip_by_rect  # scalar bounds only
        a = np.array([clip(g, *r) for g, r in zip(work, lo)], dtype=object)
        c = np.array([clip(g, *r) for g, r in zip(work, hi)], dtype=object)
        work = np.concatenate([a, c])
        owners = np.concatenate([owners, owners])
    if len(work):  # pathological input: stop splitting, keep what is left
        done_owner.append(owners)
        done_geom.append(work)
    owner = np.concatenate(done_owner) if done_owner else np.zeros(0, dtype=int)
    pieces = np.concatenate(done_geom) if done_geom else np.zeros(0, dtype=object)
    # rectangle clipping is fast but may leave a piece invalid at a touching vertex: mend those few
    pieces = mend_invalid(pieces)
    # the cuts are long straight lon/lat lines, split further on one side and not on the other: in a GK
    # plane those part by metres and leave gaps between pieces (0.5 km² for a 120 km redline): cut them
    # like every stored edge, so the pieces still tile their feature there (vertices added on the cuts
    # come on top of ``max_vertices``)
    if not cuts_x:
        return owner, pieces
    return owner, cut_long_edges(pieces, MAX_STORED_EDGE_DEG, on_lines=(np.concatenate(cuts_x), np.concatenate(cuts_y)))


def mend_invalid(geoms: np.ndarray) -> np.ndarray:
    """The geometries, with ``make_valid`` applied to the invalid ones only (a copy when any are)."""
    bad = ~is_valid(geoms)
    if not bad.any():
        return geoms
    geoms = np.array(geoms, dtype=object)
    geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def reproject(geom: BaseGeometry | np.ndarray, src: int | str, dst: int | str) -> BaseGeometry | np.ndarray:
    """Geometries from ``src`` to ``dst`` (lon/lat axis order everywhere)."""
    tr = transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


# An edge straight in a projected plane is not straight in lon/lat: over a 20 km edge at 40° N the two
# lines part by 6.6 m, growing with the square of the length. Before projected geometry is stored in
# lon/lat its edges are cut to this length, so the stored shape keeps to the drawn one within ~1 mm.
MAX_STORED_EDGE_M = 200.0
MAX_STORED_EDGE_DEG = 0.002  # the cuts between pieces, in lon/lat: ~220 m of latitude, less of longitude


@lru_cache(maxsize=64)
def is_projected(src: int | str) -> bool:
    from pyproj import CRS

    return bool(CRS.from_user_input(src).is_projected)


def to_storage(geom: BaseGeometry | np.ndarray, src: int | str) -> BaseGeometry | np.ndarray:
    """Geometry in ``src`` to storage lon/lat, edges drawn in a projected plane first cut to 200 m.

    Lon/lat input is kept as given: areas are measured from the vertices projected into a GK plane
    with straight edges between them (the official convention, as for 界址点 coordinates), so its
    vertices are the data."""
    if src == STORAGE_EPSG:
        return geom
    if is_projected(src):
        geom = cut_long_edges(geom, MAX_STORED_EDGE_M)
    return reproject(geom, src, STORAGE_EPSG)


MAX_ADDED_POINTS = 20_000_000  # what cutting long edges may add to one call's geometries (~0.5 GB), or
# four points per vertex given, if more


def cut_long_edges(geom: BaseGeometry | np.ndarray, max_edge: float, *,
                   on_lines: tuple[np.ndarray, np.ndarray] | None = None) -> BaseGeometry | np.ndarray:
    """Points added along every edge longer than ``max_edge`` (in the geometry's units), evenly; every
    existing vertex kept to the bit, and geometry without such an edge returned as it is.

    ``on_lines`` (x values, y values): only edges lying on one of these vertical or horizontal lines
    (the cuts of ``subdivide_local``; an edge of the feature itself is left as drawn).
    Done on the coordinates, not with ``segmentize``: GEOS rebuilds a densified polygon with
    ``buffer(0)``, which drops a lobe of a bow-tie before the repair step can report it, and is slow.
    Collections nested in collections are left as they are; geometry is 2D here (ingest drops Z first).
    """
    one = not isinstance(geom, np.ndarray)
    arr = np.array([geom], dtype=object) if one else np.asarray(geom, dtype=object).copy()
    # no edge is longer than its geometry's box is across: most parcels are left alone at once (40,000
    # parcels: 0.21 s to look at every edge, 1 ms for the boxes)
    x0, y0, x1, y1 = shapely.bounds(arr).T
    with np.errstate(over="ignore"):  # (a box 1e300 across squares to inf: it may hold a long edge)
        may = (x1 - x0) ** 2 + (y1 - y0) ** 2 > max_edge * max_edge * (1 - 1e-12)  # NaN (empty): False
    if not may.any():
        return geom
    if not may.all():
        arr[may] = cut_long_edges(arr[may], max_edge, on_lines=on_lines)
        return arr[0] if one else arr
    parts, owner = shapely.get_parts(arr, return_index=True)
    kinds = shapely.get_type_id(parts)
    lines = np.flatnonzero(np.isin(kinds, (1, 2)))  # LineString, LinearRing
    polys = np.flatnonzero(kinds == 3)
    rings, ring_poly = shapely.get_rings(parts[polys], return_index=True)
    paths = np.concatenate([parts[lines], rings])
    coords, path_of = shapely.get_coordinates(paths, return_index=True)
    if len(coords) < 2:
        return geom
    step = np.diff(coords, axis=0)
    same = path_of[1:] == path_of[:-1]  # never the step from one path to the next
    if on_lines is not None:  # few edges lie on a meridian or a parallel: test only those
        xs, ys = on_lines
        edge = np.flatnonzero(same & ((step[:, 0] == 0) | (step[:, 1] == 0)))
        on_x = (step[edge, 0] == 0) & np.isin(coords[edge, 0], xs)
        on_y = (step[edge, 1] == 0) & np.isin(coords[edge, 1], ys)
        edge = edge[on_x | on_y]
    else:  # every edge: squared lengths over the whole array, no index copies (2 M vertices: 0.1 s less)
        sq = np.einsum("ij,ij->i", step, step)  # (a hair below the limit: hypot below decides)
        edge = np.flatnonzero((sq > max_edge * max_edge * (1 - 1e-12)) & same)
    length = np.hypot(step[edge, 0], step[edge, 1])
    long_edge = length > max_edge
    edge, length = edge[long_edge], length[long_edge]
    if len(edge) == 0:
        return geom
    # the points to add, evenly along each long edge (i → i + 1), inserted after vertex i; counted in floats
    # first: one far-off vertex asked for 1e297 points (an int64 overflow, then a crash) or 10 GB of them
    need = np.ceil(length / max_edge) - 1
    if not need.sum() <= max(MAX_ADDED_POINTS, 4 * len(coords)):  # (a national layer may need more)
        raise ValueError(f"cutting the edges to {max_edge} would add {need.sum():.3g} points")
    count = need.astype(np.int64)
    at = np.repeat(edge, count)
    nth = np.arange(len(at)) - np.repeat(np.cumsum(count) - count, count) + 1
    frac = (nth / np.repeat(count + 1, count))[:, None]
    added = coords[at] + frac * (coords[at + 1] - coords[at])
    dense = np.insert(coords, at + 1, added, axis=0)
    path_dense = np.insert(path_of, at + 1, path_of[at])
    changed_path = np.zeros(len(paths), bool)
    changed_path[path_of[edge]] = True
    open_path = np.zeros(len(paths), bool)  # LineStrings; LinearRings and polygon rings are closed
    open_path[:len(lines)] = kinds[lines] == 1
    new_paths = np.empty(len(paths), dtype=object)
    for is_open, build in ((True, shapely.linestrings), (False, shapely.linearrings)):
        take = changed_path & (open_path == is_open)
        which = np.flatnonzero(take)
        if len(which):
            pick = take[path_dense]
            new_paths[which] = build(dense[pick], indices=np.searchsorted(which, path_dense[pick]))
    changed = np.zeros(len(parts), bool)
    line_changed = changed_path[:len(lines)]
    parts[lines[line_changed]] = new_paths[:len(lines)][line_changed]
    changed[lines[line_changed]] = True
    ring_changed = changed_path[len(lines):]
    if ring_changed.any():
        rings = rings.copy()
        rings[ring_changed] = new_paths[len(lines):][ring_changed]
        poly_changed = np.zeros(len(polys), bool)
        poly_changed[ring_poly[ring_changed]] = True
        hit = poly_changed[ring_poly]  # every ring of a touched polygon, shell first as given
        rebuilt_of = np.flatnonzero(poly_changed)
        parts[polys[rebuilt_of]] = shapely.polygons(rings[hit], indices=np.searchsorted(rebuilt_of, ring_poly[hit]))
        changed[polys[rebuilt_of]] = True
    touched = np.unique(owner[changed])
    kind_of = shapely.get_type_id(arr[touched])
    single = touched[np.isin(kind_of, (1, 2, 3))]
    arr[single] = parts[np.searchsorted(owner, single)]  # one part each: itself
    for kind, build in ((5, shapely.multilinestrings), (6, shapely.multipolygons), (7, shapely.geometrycollections)):
        whose = touched[kind_of == kind]
        if len(whose):
            mine = np.zeros(len(arr), bool)
            mine[whose] = True
            mine = mine[owner]
            arr[whose] = build(parts[mine], indices=np.searchsorted(whose, owner[mine]))
    return arr[0] if one else arr


def to_gk(geom: BaseGeometry | np.ndarray, epsg: int) -> BaseGeometry | np.ndarray:
    """Project from storage (EPSG:4490 lon/lat) into a GK plane."""
    return reproject(geom, STORAGE_EPSG, epsg)


def from_crs(geom: BaseGeometry | np.ndarray, src: int | str, dst: int | str = STORAGE_EPSG):
    return reproject(geom, src, dst)


def probe_gk_epsg(geom: BaseGeometry) -> int:
    """The 3° GK zone of a probe geometry: where its areas and distances are measured."""
    c = geom.centroid if not geom.is_empty else None
    lon = c.x if c is not None else 105.0
    return gk3_epsg(lon)


def degree_margin(distance_m: float, max_abs_lat: float) -> tuple[float, float]:
    """A conservative lon/lat margin covering ``distance_m`` metres at latitudes up to ``max_abs_lat``."""
    if distance_m <= 0:
        return 0.0, 0.0
    dlat = distance_m / 110_500.0 * 1.01
    coslat = max(math.cos(math.radians(min(abs(max_abs_lat) + dlat, 89.0))), 0.01)
    dlon = distance_m / (M_PER_DEG * coslat) * 1.01
    return dlon, dlat


# PROJ's ellipsoidal Lambert azimuthal equal-area on GRS80 (the CGCS2000 ellipsoid to 0.1 mm), centred
# on China: equal-area everywhere, so one transformer serves every footprint and layer
_LAEA_CHINA = "+proj=laea +lat_0=35 +lon_0=105 +ellps=GRS80 +units=m +no_defs"


# A part this wide or less is measured by the plane's areal scale at its centroid: the scale varies
# with the square of the distance from the central meridian, so the error grows with the square of the
# part's width (2e-7 at 10 km, 2e-9 at 1 km, against the equal-area projection of every vertex)
PLANE_SCALE_MAX_WIDTH_M = 2_000.0
PLANE_SCALE_MAX_OFFSET_M = 330_000.0  # from the central meridian: ~3.2° at 18° N, where 2e-8 is checked
PLANE_SCALE_MIN_VERTICES = 1_000  # fewer: one PROJ call (13 µs for a parcel) beats a dozen numpy calls


def ellipsoidal_areas_in_plane(geoms: np.ndarray, epsg: int) -> np.ndarray:
    """``ellipsoidal_areas`` of geometries drawn in a CGCS2000 GK plane, from their plane areas.

    The plane area divided by the plane's areal scale at the centroid (``gk_areal_scale``); shapes wider
    than ``PLANE_SCALE_MAX_WIDTH_M`` are projected vertex by vertex. No projection of the vertices: a
    cadastral upload's 2.6 M vertices took 0.58 s to project to the equal-area plane, this 0.08 s; the
    two ways agree to 3e-8. Under ``PLANE_SCALE_MIN_VERTICES`` vertices in all, projecting is cheaper.
    """
    geoms = np.asarray(geoms, dtype=object)
    easting = gk_false_easting(epsg)
    if easting is None or shapely.get_num_coordinates(geoms).sum() < PLANE_SCALE_MIN_VERTICES:
        return shapely.area(reproject(geoms, epsg, _LAEA_CHINA))  # (not a GK plane: never asked)
    area = shapely.area(geoms)
    x0, y0, x1, y1 = shapely.bounds(geoms).T
    centre = shapely.centroid(geoms)
    x, y = shapely.get_x(centre) - easting, shapely.get_y(centre)
    with np.errstate(invalid="ignore"):  # empty shapes: no centroid, no area
        # too wide for one scale, or off the zone where the series holds (parts of one upload can lie
        # in other zones): vertex by vertex
        exact = (np.maximum(x1 - x0, y1 - y0) > PLANE_SCALE_MAX_WIDTH_M) | ~(np.abs(x) <= PLANE_SCALE_MAX_OFFSET_M)
        out = np.where(area > 0, area / gk_areal_scale(x, y), 0.0)
    if exact.any():
        out[exact] = shapely.area(reproject(geoms[exact], epsg, _LAEA_CHINA))
    return out


def ellipsoidal_areas(geoms: np.ndarray) -> np.ndarray:
    """Areas on the CGCS2000 ellipsoid (m²) of lon/lat geometries (0 for lines and points), in one
    transformation to an equal-area projection.

    An ellipsoidal equal-area projection preserves areas exactly; only the straight lon/lat edges
    differ from geodesics, which is negligible at parcel scale. (pyproj.Geod walks every ring in
    Python: 2 s for an 8,000-parcel upload against 0.05 s here.)

    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return np.zeros(0)
    projected = reproject(geoms, STORAGE_EPSG, _LAEA_CHINA)
    return np.where(shapely.get_dimensions(geoms) == 2, shapely.area(projected), 0.0)


def interiors_meet(geoms: np.ndarray, slack: float = 0.0) -> bool:
    """Whether features share interior points over more than ``slack`` of area in all (in the
    geometries' units); sharing edges or corners does not count. A layer whose features never meet, as
    control units tile the land, is dissolved by adding areas, off by ``slack`` at most.

    The slack forgives what floating point leaves between neighbours that were meant to share an edge
    (x + w and the next cell's x differ in the last bit). An overlapping layer shows it in its first
    pairs, so they are tested first; a clean coverage (neighbours' edges match vertex for vertex) is
    then confirmed by GEOS's coverage validator in one pass, half the cost of testing every pair."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) < 2:
        return False
    left, right = shapely.STRtree(geoms).query(geoms)  # pairs whose boxes meet
    keep = left < right
    left, right = left[keep], right[keep]
    shared = 0.0
    start, size = 0, 8
    while start < len(left):
        a, b = geoms[left[start:start + size]], geoms[right[start:start + size]]
        meet = shapely.relate_pattern(a, b, "T********")
        if meet.any():
            shared += float(shapely.area(shapely.intersection(a[meet], b[meet])).sum())
            if shared > slack:
                return True
        if start == 0 and len(left) > size and shapely.coverage_is_valid(geoms):
            return False
        start, size = start + size, min(size * 4, 4096)
    return False


def longest_edge_m(geoms: np.ndarray) -> float:
    """The longest straight edge of any ring or line of lon/lat ``geoms``, in metres (a sphere's degree,
    slightly over the ellipsoid's along a meridian); 0 for points."""
    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    kind = shapely.get_type_id(parts)
    lines = np.concatenate([shapely.get_rings(parts[kind == 3]), parts[(kind == 1) | (kind == 2)]])
    if len(lines) == 0:
        return 0.0
    xy, ring = shapely.get_coordinates(lines, return_index=True)
    same = ring[1:] == ring[:-1]
    if not same.any():
        return 0.0
    step = np.diff(xy, axis=0)[same]
    mid_lat = np.radians((xy[1:, 1] + xy[:-1, 1])[same] / 2)
    return float(np.hypot(step[:, 0] * np.cos(mid_lat), step[:, 1]).max() * M_PER_DEG)


def overlap_facts(geoms: np.ndarray) -> dict[str, Any]:
    """What a layer version records at publish for the overlay's dissolve: ``features_overlap`` (None
    for points and lines) and ``longest_edge_m`` (0 for points); both None on a GEOS error."""
    geoms = np.asarray(geoms, dtype=object)
    try:
        longest = round(longest_edge_m(geoms), 1)
        polygonal = bool(np.isin(shapely.get_type_id(geoms), (3, 6)).all()) and len(geoms) > 0
        overlap = interiors_meet(geoms, APART_SLACK_DEG2) if polygonal else None
    except shapely.errors.GEOSException:
        return {"features_overlap": None, "longest_edge_m": None}
    return {"features_overlap": overlap, "longest_edge_m": longest}


def apart(features_overlap: Any, longest_edge_m: Any) -> bool:
    """Whether a version's features may be dissolved by adding their clips' areas in the GK plane.

    They must share no interior point as stored (``features_overlap`` False), and their edges must be
    short: a lon/lat edge is a chord in the GK plane, so a neighbour with a vertex the other lacks on
    a shared edge (a T-junction, or a cut between pieces) overlaps it there by up to the chord's bulge,
    6.6 m × (L / 20 km)²: for edges up to 250 m, 1 mm, a few tenths of a m² per km of shared edge."""
    return features_overlap is False and longest_edge_m is not None and float(longest_edge_m) <= APART_MAX_EDGE_M


# a layer whose features share less than this in all is dissolved by adding areas (as stored, in
# lon/lat: the slack in square degrees is taken at the equator, where a degree² is largest)
M_PER_DEG = 111_320.0
APART_SLACK_M2 = 0.01
APART_SLACK_DEG2 = APART_SLACK_M2 / M_PER_DEG ** 2
APART_MAX_EDGE_M = 250.0  # edges of projected input are cut to 200 m on the way in


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest member of each node's component, for ``n`` nodes joined by the edges ``a[i]–b[i]``.

    Hook every root onto the smallest root across an edge, then jump pointers to the roots; repeat
    until no edge joins two roots. Vectorised: a union-find loop in Python took 0.17 s for the
    160,000 box pairs of 40,804 tiled parcels. A node's parent is never above it, so no cycle forms.
    """
    parent = np.arange(n)
    while len(a):
        ra, rb = parent[a], parent[b]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        apart = lo != hi
        if not apart.any():
            break
        np.minimum.at(parent, hi[apart], lo[apart])
        while True:
            jumped = parent[parent]
            if (jumped == parent).all():
                break
            parent = jumped
    return parent


COVERAGE_MIN_GROUP = 64


def _union(members: np.ndarray) -> BaseGeometry:
    """The union of one group of polygons whose bounding boxes chain together.

    Cadastral parcels tile the land and share their edges vertex for vertex: a coverage, which GEOS
    unites many times faster than an overlay union (40,804 tiled parcels: 0.27 s against 2.1 s).
    Checking first that they are one (``coverage_is_valid``) cost 1.2 s, so the coverage union is tried
    and its result checked instead: on parcels that overlap or whose shared edges do not match it
    raises or gives an invalid polygon (or, for a coverage, an area other than the parcels' sum), and
    the overlay union answers. Small groups go to the overlay union at once.
    """
    if len(members) >= COVERAGE_MIN_GROUP:
        try:
            out = _coverage_union(members)
        except shapely.errors.GEOSException:
            out = None
        total = float(shapely.area(members).sum())
        if out is not None and out.is_valid and abs(out.area - total) <= 1e-9 * total:  # relative only: degrees²
            return out
    return shapely.union_all(members)


COVERAGE_SPLIT_MIN = 4096


def _coverage_union(members: np.ndarray) -> BaseGeometry:
    """GEOS's coverage union; a big group in two halves (west and east of the median centroid) on two
    threads, then the halves' union, itself a coverage: a part of a coverage is one (40,804 tiled
    parcels: 0.30 → 0.21 s, the same polygon). Raises where GEOS finds the input is not a coverage."""
    if len(members) < COVERAGE_SPLIT_MIN or CPUS < 2:
        return shapely.coverage_union_all(members)
    x = shapely.get_x(shapely.centroid(members))
    west = x < np.median(x)
    if west.all() or not west.any():  # one column of parcels
        return shapely.coverage_union_all(members)
    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(shapely.coverage_union_all, (members[west], members[~west])))
    return shapely.coverage_union_all(np.array(halves, dtype=object))


def _union_small_groups(geoms: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One union per group (``groups`` sorted), for many small groups at once: neighbours within a group
    are united pairwise in one vectorised call per round, split over the cores (GEOS runs without the
    GIL). A loop of ``union_all`` per group spent as long in Python as in GEOS."""
    while len(geoms):
        first = np.r_[True, groups[1:] != groups[:-1]]
        idx = np.arange(len(geoms))
        pos = idx - np.maximum.accumulate(np.where(first, idx, 0))  # place within the group
        left = np.flatnonzero((pos % 2 == 0) & np.r_[~first[1:], False])  # has a right neighbour
        if len(left) == 0:
            break
        geoms = geoms.copy()
        geoms[left] = _pairwise_union(geoms[left], geoms[left + 1])
        keep = np.ones(len(geoms), bool)
        keep[left + 1] = False
        geoms, groups = geoms[keep], groups[keep]
    return geoms


def _pairwise_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    workers = min(CPUS, 4)
    if len(a) < 2048 or workers < 2:
        return shapely.union(a, b)
    bounds = np.linspace(0, len(a), workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda i: shapely.union(a[bounds[i]:bounds[i + 1]], b[bounds[i]:bounds[i + 1]]),
                         range(workers))
        return np.concatenate(list(parts))


def collect(parts: np.ndarray) -> BaseGeometry:
    """One geometry of disjoint polygons: the polygon itself when there is one."""
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


def dissolve(polys: np.ndarray) -> BaseGeometry:
    """Union of polygons as one geometry (see ``dissolve_parts``)."""
    return collect(dissolve_parts(polys))


def dissolve_parts(polys: np.ndarray) -> np.ndarray:
    """Union of polygons as an array of disjoint polygons, unioning only the groups that touch or overlap.

    A plain ``union_all`` of 8,000 separate parcels took 3 s; most parcel sets are disjoint, and
    the few that touch are unioned within their own group (connected components of the graph of
    overlapping bounding boxes, from an STRtree; testing the shapes themselves there cost 0.55 s for
    40,804 tiled parcels and saved less).
    """
    polys = np.asarray(polys, dtype=object)
    if len(polys) == 1:
        return shapely.get_parts(polys)
    a, b = shapely.STRtree(polys).query(polys)  # boxes: an exact test cost more than it saved
    keep = a < b
    roots = connected_components(len(polys), a[keep], b[keep])
    order = np.argsort(roots, kind="stable")
    groups = roots[order]
    starts = np.flatnonzero(np.r_[True, np.diff(groups) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    members, big_group = polys[order], sizes >= COVERAGE_MIN_GROUP
    big = np.repeat(big_group, sizes)  # big groups one by one (a coverage, perhaps), the rest together
    pieces = [_union(g) for g in np.split(members[big], np.cumsum(sizes[big_group])[:-1])] if big_group.any() else []
    pieces += list(_union_small_groups(members[~big], groups[~big]))
    pieces = np.array(pieces, dtype=object)
    polygon = shapely.get_type_id(pieces) == 3  # most: a parcel alone (get_parts would copy it)
    single, multi = np.flatnonzero(polygon), np.flatnonzero(~polygon)
    split, owner = shapely.get_parts(pieces[multi], return_index=True)
    order = np.argsort(np.concatenate([single, multi[owner]]), kind="stable")  # the pieces' order, as before
    parts = np.concatenate([pieces[single], split])[order]
    return parts[shapely.get_type_id(parts) == 3]
