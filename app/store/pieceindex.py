"""A layer version's subdivided pieces in memory under an STRtree: the overlay's hot path.

Versions never change, so each worker process loads a version's pieces once and answers every later
probe without a database round trip. The embedded store always does; the PostGIS store does for
versions that fit its vertex budget (``ECOREDLINE_PIECE_CACHE_VERTICES``) and asks PostgreSQL for the rest.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.domain.crs import gk3_zone_of
from app.domain.models import Piece

# A feature cut into several pieces is handed out whole when the boxes of two or more of them meet a
# probe's search window and it was cut into at most this many (some 4,000 vertices at most, pieces having
# 256 with the default ECOREDLINE_SUBDIVIDE_MAX_VERTICES): one clip of
# the whole (clip_by_rect: ~5 µs + 3.5 ns a vertex) costs less than clipping the pieces and uniting
# their clips (a GEOS union, 20–65 µs), which was a tenth of the overlay at p95. Bigger features stay in
# pieces, whose clips cost what a piece has. Counting pieces, not vertices, lets the SQL path make the
# same choice from the piece table. A whole is projected into a GK plane on its first such hit there
# (~50 µs for 1,000 vertices, about what the union it saves costs), not with the zone's pieces: only
# the features probed that way take memory.
WHOLE_MAX_PIECES = 16


class NoRoom(Exception):
    """A version's pieces and wholes do not fit the budget beside what is held (found out by loading)."""


@dataclass(frozen=True)
class PieceIndex:
    """A version's pieces under an STRtree, and the whole of its small features cut into several.

    ``pieces`` holds the tree's pieces first and then the wholes (``piece_fid`` likewise); ``whole_at``
    gives, for each of the tree's pieces, the entry of its feature's whole, or -1. A zone's plane holds
    the projected pieces at once and each whole once it has been handed out there."""

    pieces: np.ndarray
    piece_fid: np.ndarray
    tree: shapely.STRtree
    attributes: dict[int, dict[str, Any]]
    areas: dict[int, float]
    vertices: int
    apart: bool = False  # no two features share interior points (recorded at publish)
    whole_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), compare=False, repr=False)
    # pieces projected into a GK zone's plane, by EPSG code, built on the zone's first probe that finds
    # pieces while the budget has room; the vertices each zone needs, once measured
    planes: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    plane_need: dict[int, int] = field(default_factory=dict, compare=False, repr=False)
    _plane_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    # the Piece records handed out, by (layer, plane), made on a piece's first hit: a probe at p95 hands
    # out ~20, and making them anew each time was a tenth of the overlay
    made: dict[tuple[str, int | None], list[Piece | None]] = field(default_factory=dict, compare=False, repr=False)
    wholes_projected: dict[int, int] = field(default_factory=dict, compare=False, repr=False)  # vertices, by zone

    @property
    def weight(self) -> int:
        """Vertices held: the pieces and wholes, the zone planes, and the wholes projected."""
        return self.vertices + sum(self.plane_need[epsg] for epsg in self.planes) + \
            sum(self.wholes_projected.values())

    @classmethod
    def build(cls, pieces: np.ndarray, piece_fid: np.ndarray, attributes: dict[int, dict[str, Any]],
              areas: dict[int, float], apart: bool = False,
              wholes: dict[int, BaseGeometry] | None = None) -> PieceIndex:
        """``wholes``: features by fid, of which those cut into several pieces are kept whole as well
        (``whole_candidates`` says which to fetch)."""
        tree = shapely.STRtree(pieces)
        whole_at = np.full(len(pieces), -1, dtype=np.int64)
        if wholes:
            want, _ = whole_candidates(pieces, piece_fid)
            # polygons only: a piece keeps only the parts of its feature's highest dimension, so the whole
            # of a collection would hold more than its pieces
            fids = np.array(sorted(f for f, g in wholes.items() if f in want and shapely.get_type_id(g) in (3, 6)),
                            dtype=np.int64)
            if len(fids):
                slot = np.searchsorted(fids, piece_fid)
                mine = (slot < len(fids)) & (fids[np.minimum(slot, len(fids) - 1)] == piece_fid)
                whole_at[mine] = len(pieces) + slot[mine]
                extra = np.empty(len(fids), dtype=object)
                extra[:] = [wholes[int(f)] for f in fids]
                pieces = np.concatenate([pieces, extra])
                piece_fid = np.concatenate([piece_fid, fids])
        return cls(pieces, piece_fid, tree, attributes, areas,
                   int(shapely.get_num_coordinates(pieces).sum()) if len(pieces) else 0, apart, whole_at)

    def query(self, layer: str, kind: str, vid: str, geometry: BaseGeometry,
              window: BaseGeometry | None, gk_epsg: int | None = None,
              room: Callable[[int], bool] | None = None) -> list[Piece]:
        """Pieces in ``window`` (a distance search), or intersecting ``geometry`` when there is none;
        with ``gk_epsg``, each carries its projection into that plane where one is held (``room``: whether
        a budget has room for that many more vertices). A small feature two or more of whose pieces are
        hit (their boxes meet the window) comes whole instead, once."""
        if len(self.pieces) == 0:
            return []
        # (a one-element array: for a single geometry shapely reshapes it with numpy, 1.6 µs of 2.7)
        hits = self.tree.query(np.array([window]))[1] if window is not None else \
            self.tree.query(geometry, predicate="intersects")
        plane = self.plane(gk_epsg, room) if gk_epsg is not None and len(hits) else None
        key = (layer, None if plane is None else gk_epsg)
        made = self.made.get(key)
        if made is None:
            made = self.made.setdefault(key, [None] * len(self.pieces))
        entries = np.sort(hits).tolist()
        if len(entries) > 1 and len(self.pieces) > len(self.whole_at):
            entries = _with_wholes(entries, self.whole_at[entries].tolist())
        out = []
        for i in entries:
            piece = made[i]
            if piece is None:  # (two threads may both make it: either record serves)
                fid = int(self.piece_fid[i])
                piece = Piece(layer, kind, vid, fid, self.attributes[fid], self.pieces[i], self.areas[fid],
                              None if plane is None else plane[i], self.apart)
                if plane is not None and plane[i] is None and i >= len(self.whole_at):
                    piece.geometry_gk = self._project_whole(plane, i, gk_epsg, room)
                if plane is None or piece.geometry_gk is not None:  # (a whole left out for room: asked again)
                    made[i] = piece
            out.append(piece)
        return out

    def _project_whole(self, plane: np.ndarray, i: int, epsg: int,
                       room: Callable[[int], bool] | None) -> BaseGeometry | None:
        """Entry ``i``, a whole, projected into the zone's plane and kept there, if the budget has room."""
        from app.domain.geometry import to_gk

        whole = self.pieces[i]
        need = int(shapely.get_num_coordinates(whole))
        if room is not None and not room(need):
            return None  # the caller projects it
        projected = to_gk(whole, epsg)
        with self._plane_lock:
            if plane[i] is None:  # (another thread may have been first)
                plane[i] = projected
                self.wholes_projected[epsg] = self.wholes_projected.get(epsg, 0) + need
        return plane[i]

    def plane(self, epsg: int, room: Callable[[int], bool] | None = None) -> np.ndarray | None:
        """Every piece within reach of the 3° GK zone ``epsg``, projected into it (None for the others).

        Projecting a footprint's pieces was a third of an overlay (~1,000 vertices at p95); a version
        is probed again and again, so its pieces are projected once per zone instead (as much memory
        again as the pieces of that zone)."""
        band = gk3_band(epsg)
        if band is None:
            return None
        plane = self.planes.get(epsg)
        if plane is not None:
            return plane
        need = self.plane_need.get(epsg)
        if need is not None and room is not None and not room(need):
            return None  # still no room (asked again each time: a version may have left the cache)
        with self._plane_lock:
            if self.planes.get(epsg) is None:
                from app.domain.geometry import to_gk

                west, east = band
                b = shapely.bounds(self.pieces)
                reach = (b[:, 2] >= west) & (b[:, 0] <= east)
                reach[len(self.whole_at):] = False  # the wholes: each on its first hit (``query``)
                need = self.plane_need[epsg] = int(shapely.get_num_coordinates(self.pieces[reach]).sum())
                if room is not None and not room(need):
                    return None  # over the budget: the caller projects what it needs
                plane = np.full(len(self.pieces), None, dtype=object)
                if reach.any():
                    plane[reach] = to_gk(self.pieces[reach], epsg)
                self.planes[epsg] = plane
                settle()
        return self.planes[epsg]


def _with_wholes(entries: list[int], whole_of: list[int]) -> list[int]:
    """The hit pieces, those of a feature kept whole and hit twice or more replaced by its whole once."""
    seen: dict[int, int] = {}
    for w in whole_of:
        if w >= 0:
            seen[w] = seen.get(w, 0) + 1
    if not any(n > 1 for n in seen.values()):
        return entries
    out = []
    for i, w in zip(entries, whole_of):
        if w < 0 or seen[w] == 1:
            out.append(i)
        elif seen[w] > 1:
            out.append(w)
            seen[w] = 0  # handed out: the feature's other pieces are skipped
    return out


def whole_candidates(pieces: np.ndarray, piece_fid: np.ndarray) -> tuple[set[int], int]:
    """The features kept whole beside their pieces (cut into 2 to ``WHOLE_MAX_PIECES``), for the stores to
    fetch; and the vertices their pieces hold, about theirs (pieces add the cut points)."""
    if len(piece_fid) == 0 or piece_fid.min() < 0:
        return set(), 0
    count = np.bincount(piece_fid)
    want = (count > 1) & (count <= WHOLE_MAX_PIECES)
    held = np.bincount(piece_fid, weights=shapely.get_num_coordinates(pieces))
    return set(np.flatnonzero(want).tolist()), int(held[want].sum())


def gk3_band(epsg: int, reach_deg: float = 1.0) -> tuple[float, float] | None:
    """The longitudes whose footprints a 3° GK zone (EPSG:4534–4554, no zone prefix) measures, widened by
    ``reach_deg`` for the pieces near them; None for any other code."""
    zone = gk3_zone_of(epsg)
    if zone is None or zone[1]:
        return None
    cm = 3.0 * zone[0]
    return cm - 1.5 - reach_deg, cm + 1.5 + reach_deg


class BuildOnceCache:
    """Immutable things by key (a version's pieces, its tile geometry), least recently used out first,
    each built once however many threads ask, then moved out of the collector's walks (``settle``).

    With a budget (``weigh`` gives each item's weight), an item is built only while it fits beside what
    is cached (``get`` answers None otherwise and the caller goes another way): evicting to make room
    would rebuild items on every request when two of them do not fit together.
    """

    def __init__(self, max_items: int = 64, budget: int | None = None,
                 weigh: Callable[[Any], int] | None = None) -> None:
        self.max_items = max_items
        self.budget = budget
        self.weigh = weigh or (lambda _item: 0)
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[], Any], estimate: int = 0) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                return item
            if self.budget is not None and self._weight() + estimate > self.budget:
                return None
            build = self._building.setdefault(key, threading.Lock())
        with build:
            with self._lock:
                item = self._items.get(key)
            if item is not None:
                return item
            try:
                item = load()
                settle()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = item
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
        return item

    def evict(self, keep: Callable[[str], bool]) -> int:
        """Drop the items whose key ``keep`` refuses; how many went."""
        with self._lock:
            gone = [key for key in self._items if not keep(key)]
            for key in gone:
                del self._items[key]
        return len(gone)

    def room_for(self, extra: int) -> bool:
        """Whether ``extra`` more weight fits the budget beside what is cached."""
        with self._lock:
            return self.budget is None or self._weight() + extra <= self.budget

    def _weight(self) -> int:
        return sum(self.weigh(i) for i in self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class PieceIndexCache(BuildOnceCache):
    """Piece indexes by version id, within a budget of vertices (a zone's projected pieces count again)."""

    def __init__(self, max_versions: int = 64, max_vertices: int | None = None) -> None:
        super().__init__(max_versions, max_vertices, weigh=lambda idx: idx.weight)


def settle() -> None:
    """Move what is alive now (a version's pieces, tiles' geometry) out of the cyclic collector's reach.

    These caches hold millions of objects; every full collection walked them all, and the collections
    that the allocations of ordinary requests trigger added 30 ms spikes to tiles (p95 57 → 26 ms for a
    z6 tile, measured). The objects have no reference cycles: they are still freed the ordinary way
    when a cache lets them go."""
    gc.freeze()


def search_window(geometry: BaseGeometry, distance_m: float) -> BaseGeometry | None:
    """The lon/lat box covering ``distance_m`` around ``geometry`` (None: an intersects probe)."""
    if distance_m <= 0:
        shapely.prepare(geometry)
        return None
    from app.domain.geometry import degree_margin

    x0, y0, x1, y1 = geometry.bounds
    dlon, dlat = degree_margin(distance_m, max(abs(y0), abs(y1)))
    return shapely.box(x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat)
