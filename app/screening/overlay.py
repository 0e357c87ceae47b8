"""Overlay of one footprint against the layers: clipped areas, shares, distances, dissolved per layer.

The store only answers which subdivided pieces lie near the footprint; everything measured here is
computed once, with shapely, in the 3° Gauss–Krüger plane of the footprint (the official area
convention), whichever store answered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry

from app.domain.crs import STORAGE_EPSG
from app.domain.footprint import Footprint
from app.domain.geometry import ellipsoidal_areas, from_crs, mend_invalid, to_gk
from app.domain.screening import LayerOverlap, Overlap
from app.store.base import LayerStore

CANDIDATE_PAD_M = 50.0


@dataclass
class OverlayResult:
    overlaps: list[Overlap]  # every feature that intersects or lies within the search distance
    layers: list[LayerOverlap]  # per layer, dissolved
    versions: dict[str, str]  # layer -> version id used (every layer of the store, hit or not)
    kinds: dict[str, str]  # layer -> kind
    distance_m: float
    sliver_m2: float
    min_part_m2: float = float("inf")  # the footprint's smallest part (GK plane)

    @property
    def sliver_applied(self) -> float:
        """The sliver tolerance, never more than half the footprint's smallest part: a 9 m² tower base
        wholly inside a redline is no sliver of it, whatever the operator's tolerance."""
        return min(self.sliver_m2, 0.5 * self.min_part_m2)

    def touches(self, o: Overlap) -> bool:
        """Whether ``o`` overlaps the footprint by more than a sliver (a point or line: touches it at all)."""
        return o.distance_m == 0 and (o.area_m2 > self.sliver_applied or not o.polygonal)


def _name(attrs: dict) -> str | None:
    for key in ("name", "code"):
        if attrs.get(key):
            return str(attrs[key])
    return None


def layer_versions(store: LayerStore, pinned: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """``{layer: (kind, version)}`` for every layer a screening uses.

    Without ``pinned``: every current layer. With ``pinned`` (a re-run as of a record): exactly the
    recorded layers and versions — a layer published since is not probed, so the result is the same.
    """
    current = store.current_versions()
    if pinned is None:
        return current
    targets = {}
    for layer, vid in pinned.items():
        if current.get(layer, ("", ""))[1] == vid:
            targets[layer] = current[layer]
        else:
            v = store.get_version(vid)
            targets[layer] = (v.kind, v.id)
    return targets


def overlay(
    store: LayerStore,
    footprint: Footprint,
    *,
    distance_m: float = 0.0,
    layers: Sequence[str] | None = None,
    pinned: dict[str, str] | None = None,
    sliver_m2: float = 1.0,
) -> OverlayResult:
    targets = layer_versions(store, pinned)
    if layers is not None:
        wanted = set(layers)
        targets = {k: v for k, v in targets.items() if k in wanted}
    versions = {layer: vid for layer, (_kind, vid) in targets.items()}
    kinds = {layer: kind for layer, (kind, _vid) in targets.items()}
    epsg = footprint.echo.gk_epsg
    # the stores look in lon/lat, the overlay measures in the GK plane, where a long edge runs up to metres
    # off its lon/lat line (6.6 m for 20 km at 40° N): ask for a box with room to spare, measure exactly
    pieces = store.candidate_pieces(footprint.geometry, distance_m=distance_m + CANDIDATE_PAD_M, resolved=targets,
                                    window_only=True, gk_epsg=epsg)
    # everything is measured in the footprint's GK plane; in-memory pieces come projected already (once
    # per version and zone), the rest are projected here in one call with the footprint (each call costs
    # ~25 µs before any coordinate moves). The footprint is projected from its stored lon/lat like every
    # piece, so a vertex it shares with a feature lands on the same GK point (the surveyor's own GK
    # coordinates would be 1e-9 m off); the lon/lat ingest path has done exactly that already.
    todo = [i for i, p in enumerate(pieces) if p.geometry_gk is None]
    fp_gk = footprint.known_gk(epsg)
    ahead = [footprint.geometry] if fp_gk is None else []
    pieces_gk = np.array([p.geometry_gk for p in pieces], dtype=object)
    if ahead or todo:
        projected = to_gk(np.array(ahead + [pieces[i].geometry for i in todo], dtype=object), epsg)
        fp_gk = projected[0] if ahead else fp_gk
        if todo:
            pieces_gk[todo] = projected[len(ahead):]
    shapely.prepare(fp_gk)
    whole = (footprint.geometry, footprint.echo.area_m2_ellipsoidal)
    try:
        cut, box_area = _cut_to_reach(pieces_gk, fp_gk, distance_m)
        overlaps, summary = _measure(fp_gk, whole, pieces, cut, epsg, distance_m, box_area)
    except shapely.errors.GEOSException:
        # something GEOS will not overlay (never seen): a shape valid in lon/lat that is not in the GK
        # plane, or a cut piece. Mend what is invalid there and measure the whole pieces.
        fp_gk = mend_invalid(np.array([fp_gk], dtype=object))[0]
        shapely.prepare(fp_gk)
        overlaps, summary = _measure(fp_gk, whole, pieces, mend_invalid(pieces_gk), epsg, distance_m, None)
    parts = shapely.get_parts(fp_gk)
    min_part = float(shapely.area(parts).min()) if len(parts) else 0.0
    return OverlayResult(overlaps, summary, versions, kinds, distance_m, sliver_m2, min_part)


def _cut_to_reach(pieces_gk: np.ndarray, fp_gk: BaseGeometry, distance_m: float) -> tuple[np.ndarray, float]:
    """Each piece cut to the GK box holding everything within ``distance_m`` of the footprint, and the
    box's area (a piece cut to the whole box covers the footprint).

    A redline piece has up to 256 vertices (a small feature handed out whole some 4,000) and a footprint
    meets a few of them: overlaying only the part in the box gives the same clips and the same distances
    up to ``distance_m`` (a farther piece stays farther). Cut in the GK plane, where the pieces' edges are straight, so no clip moves.
    """
    x0, y0, x1, y1 = fp_gk.bounds
    m = max(distance_m, 0.0) + 10.0  # 10 m: nothing measured lies on the cut
    box_area = (x1 - x0 + 2 * m) * (y1 - y0 + 2 * m)
    if len(pieces_gk) == 0:
        return pieces_gk, box_area
    return shapely.clip_by_rect(pieces_gk, x0 - m, y0 - m, x1 + m, y1 + m), box_area


def _measure(fp_gk: BaseGeometry, whole: tuple[BaseGeometry, float], pieces: list, pieces_gk: np.ndarray,
             epsg: int, distance_m: float, box_area: float | None) -> tuple[list[Overlap], list[LayerOverlap]]:
    """Each feature's overlap and each layer's, dissolved: pieces partition their feature, so they are
    clipped and measured piece by piece and a feature's clips joined.

    ``whole``: the footprint in lon/lat and its ellipsoidal area, which is what a clip covering all of
    it is. ``box_area``: the area of the box the pieces were cut to (None: not cut). A feature whose
    cut pieces fill the box (their areas add up to it: they partition the feature) covers the
    footprint, so its clip is the footprint, without a GEOS overlay: the common case of a small project
    inside a large zone, and the costly one when the project straddles the cuts between its pieces.
    """
    fp_area = fp_gk.area or 1.0
    if distance_m > 0:
        near = np.flatnonzero(shapely.dwithin(pieces_gk, fp_gk, distance_m))
        touching = shapely.intersects(fp_gk, pieces_gk[near])
    else:
        near = np.flatnonzero(shapely.intersects(fp_gk, pieces_gk))
        touching = np.ones(len(near), bool)
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for j, i in enumerate(near.tolist()):
        p = pieces[i]
        groups[(p.layer_id, p.version_id, p.fid)].append(j)
    covering: set[tuple[str, str, int]] = set()
    if box_area is not None and len(near):
        cut_area = shapely.area(pieces_gk[near]).tolist()
        # to within a hundredth of a square metre, both ways: the pieces' GK images meet along their cuts
        # to ~1e-5 m, not exactly (the cuts are straight in lon/lat, densified); pieces that overlapped
        # (a layer cut before the cut lines were densified) add up to more, and are clipped one by one
        slack = min(box_area * 1e-7, COVER_SLACK_M2)
        covering = {key for key, js in groups.items() if abs(sum(cut_area[j] for j in js) - box_area) <= slack}
    clipped = touching.copy()
    for key in covering:
        clipped[groups[key]] = False
    piece_clip = np.full(len(near), None, dtype=object)
    piece_clip[clipped] = shapely.intersection(fp_gk, pieces_gk[near[clipped]])
    piece_area = np.zeros(len(near))
    piece_area[clipped] = shapely.area(piece_clip[clipped])
    piece_dist = np.zeros(len(near))
    piece_dist[~touching] = shapely.distance(fp_gk, pieces_gk[near[~touching]])
    # a few pieces per feature: plain lists beat numpy's per-call cost here
    touch, area_of, dist_of = touching.tolist(), piece_area.tolist(), piece_dist.tolist()
    clips: dict[tuple[str, str, int], tuple[BaseGeometry, float]] = {}  # features overlapped with area
    found = []  # (key, first piece, distance)
    for key in sorted(groups):
        js = groups[key]
        if key in covering:
            clips[key] = (fp_gk, fp_area)
            found.append((key, pieces[near[js[0]]], 0.0))
            continue
        with_area = [j for j in js if area_of[j] > 0]
        distance = 0.0 if any(touch[j] for j in js) else min(dist_of[j] for j in js)
        if distance > distance_m:
            continue  # the window is a superset; keep only what the rules asked for
        if with_area:
            clips[key] = _join(piece_clip[with_area], [area_of[j] for j in with_area], fp_gk, fp_area)
        found.append((key, pieces[near[js[0]]], distance))
    by_layer: dict[str, list] = defaultdict(list)
    for key, clip in clips.items():
        by_layer[key[0]].append(clip)
    # features that share no interior point (control units tile the land; known at publish) cannot
    # overlap in their clips either: their areas add up, with no GEOS work (a tenth of the overlay at p95)
    apart = {key[0] for key, first, _d in found if first.apart}
    # per layer: the dissolved area, and which geometries make up its ellipsoidal area
    dissolved = {layer: (None, min(float(sum(a for _g, a in parts)), fp_area)) if layer in apart and len(parts) > 1
                 else _join(np.array([g for g, _a in parts], dtype=object), [a for _g, a in parts], fp_gk,
                            fp_area, need_shape=False)
                 for layer, parts in by_layer.items()}
    # one transformation to lon/lat for every clip (the footprint itself is known there), one to the
    # equal-area plane for every ellipsoidal area
    shapes = {id(g): g for g, _a in [*clips.values(), *dissolved.values()] if g is not None}
    shapes.pop(id(fp_gk), None)
    lonlat = dict(zip(shapes, from_crs(np.array(list(shapes.values()), dtype=object), epsg, STORAGE_EPSG))) \
        if shapes else {}
    ell_of = dict(zip(shapes, ellipsoidal_areas(np.array(list(lonlat.values()), dtype=object)).tolist())) \
        if shapes else {}
    lonlat[id(fp_gk)], ell_of[id(fp_gk)] = whole
    overlaps: list[Overlap] = []
    for key, first, distance in found:
        clip, area = clips.get(key, (None, 0.0))
        area_ell = ell_of[id(clip)] if clip is not None else 0.0
        share_feature = None
        if area > 0:
            # shares of a feature compare ellipsoidal areas: the feature may reach far outside this GK zone
            share_feature = min(area_ell / first.feature_area_m2, 1.0) if first.feature_area_m2 > 0 else None
        overlaps.append(Overlap(
            layer=key[0], kind=first.kind, version_id=key[1], feature_id=first.feature_id,
            name=_name(first.attributes), attributes=first.attributes, area_m2=area,
            area_m2_ellipsoidal=area_ell, share_of_footprint=area / fp_area, share_of_feature=share_feature,
            distance_m=distance, geometry=lonlat[id(clip)] if clip is not None else None,
            polygonal=first.polygonal,
        ))
    summary = []
    rows_by_layer: dict[str, list[Overlap]] = defaultdict(list)
    for o in overlaps:
        rows_by_layer[o.layer].append(o)
    for layer, rows in sorted(rows_by_layer.items()):
        d_area, d_ell = 0.0, 0.0
        if layer in dissolved:
            shape, d_area = dissolved[layer]
            # no shape: the layer's clips do not overlap, so their ellipsoidal areas add up as well
            d_ell = ell_of[id(shape)] if shape is not None else min(sum(o.area_m2_ellipsoidal for o in rows),
                                                                    whole[1])
        summary.append(LayerOverlap(
            layer=layer, kind=rows[0].kind, version_id=rows[0].version_id, area_m2=d_area,
            area_m2_ellipsoidal=d_ell if d_area > 0 else 0.0,
            share_of_footprint=d_area / fp_area, features=len(rows),
            min_distance_m=min(r.distance_m for r in rows),
        ))
    return overlaps, summary


# how far the pieces of a feature covering the footprint's box may fall short of the box's area
COVER_SLACK_M2 = 0.01
# a clip whose area is within this fraction of the footprint's is the footprint (it lies inside it)
WHOLE = 1e-9
# up to this many parts, a dissolve first asks whether any two of them overlap at all (a few relate
# calls cost a third of one union; a layer whose features tile the land never overlaps)
PAIR_CHECK_MAX = 8
_PAIRS = {k: np.triu_indices(k, 1) for k in range(2, PAIR_CHECK_MAX + 1)}  # (building them costs 10 µs)


def _join(parts: np.ndarray, areas: list[float], fp_gk: BaseGeometry, fp_area: float, *,
          need_shape: bool = True) -> tuple[BaseGeometry | None, float]:
    """The union of clips of the footprint and its area, without GEOS's overlay where it is not needed.

    A GEOS union costs ~65 µs even for two 8-vertex clips, a third of a screening's overlay at p95.
    Three cases need none: a single clip; a clip that is the whole footprint (then so is the union:
    every clip lies in the footprint); and, when only the area is asked, clips whose interiors do not
    meet (their areas add up; the shape is then None). Otherwise the area is the union's: pieces of one
    feature that overlap in the GK plane (cut before their cut lines were densified) count once.
    """
    if len(parts) == 1:
        return parts[0], areas[0]
    if max(areas) >= fp_area * (1.0 - WHOLE):
        return fp_gk, fp_area
    total = float(sum(areas))
    if not need_shape and total <= fp_area * (1.0 + WHOLE) and len(parts) <= PAIR_CHECK_MAX:
        a, b = _PAIRS[len(parts)]
        if not shapely.relate_pattern(parts[a], parts[b], "T********").any():
            return None, total
    union = shapely.union_all(parts)
    return union, float(union.area)
