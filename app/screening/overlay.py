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
        targets = {k: v for k, v in targets.items() if k in set(layers)}
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
    # coordinates would be 1e-9 m off).
    todo = [i for i, p in enumerate(pieces) if p.geometry_gk is None]
    projected = to_gk(np.array([footprint.geometry] + [pieces[i].geometry for i in todo], dtype=object), epsg)
    fp_gk = projected[0]
    pieces_gk = np.array([p.geometry_gk for p in pieces], dtype=object)
    if todo:
        pieces_gk[todo] = projected[1:]
    shapely.prepare(fp_gk)
    try:
        overlaps, summary = _measure(fp_gk, pieces, _cut_to_reach(pieces_gk, fp_gk, distance_m), epsg, distance_m)
    except shapely.errors.GEOSException:
        # something GEOS will not overlay (never seen): a shape valid in lon/lat that is not in the GK
        # plane, or a cut piece. Mend what is invalid there and measure the whole pieces.
        fp_gk = mend_invalid(np.array([fp_gk], dtype=object))[0]
        shapely.prepare(fp_gk)
        overlaps, summary = _measure(fp_gk, pieces, mend_invalid(pieces_gk), epsg, distance_m)
    return OverlayResult(overlaps, summary, versions, kinds, distance_m, sliver_m2)


def _cut_to_reach(pieces_gk: np.ndarray, fp_gk: BaseGeometry, distance_m: float) -> np.ndarray:
    """Each piece cut to the GK box holding everything within ``distance_m`` of the footprint.

    A redline piece has up to 256 vertices and a footprint meets a few of them: overlaying only the
    part in the box gives the same clips and the same distances up to ``distance_m`` (a farther piece
    stays farther). Cut in the GK plane, where the pieces' edges are straight, so no clip moves.
    """
    if len(pieces_gk) == 0:
        return pieces_gk
    x0, y0, x1, y1 = fp_gk.bounds
    m = max(distance_m, 0.0) + 10.0  # 10 m: nothing measured lies on the cut
    return shapely.clip_by_rect(pieces_gk, x0 - m, y0 - m, x1 + m, y1 + m)


def _measure(fp_gk: BaseGeometry, pieces: list, pieces_gk: np.ndarray, epsg: int,
             distance_m: float) -> tuple[list[Overlap], list[LayerOverlap]]:
    """Each feature's overlap and each layer's, dissolved: pieces partition their feature, so they are
    clipped and measured piece by piece and a feature's clips joined."""
    fp_area = fp_gk.area or 1.0
    if distance_m > 0:
        near = np.flatnonzero(shapely.dwithin(pieces_gk, fp_gk, distance_m))
        touching = shapely.intersects(fp_gk, pieces_gk[near])
    else:
        near = np.flatnonzero(shapely.intersects(fp_gk, pieces_gk))
        touching = np.ones(len(near), bool)
    piece_clip = np.full(len(near), None, dtype=object)
    piece_clip[touching] = shapely.intersection(fp_gk, pieces_gk[near[touching]])
    piece_area = np.zeros(len(near))
    piece_area[touching] = shapely.area(piece_clip[touching])
    piece_dist = np.zeros(len(near))
    piece_dist[~touching] = shapely.distance(fp_gk, pieces_gk[near[~touching]])
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for j, i in enumerate(near.tolist()):
        p = pieces[i]
        groups[(p.layer_id, p.version_id, p.fid)].append(j)
    # a few pieces per feature: plain lists beat numpy's per-call cost here
    touch, area_of, dist_of = touching.tolist(), piece_area.tolist(), piece_dist.tolist()
    clips = []  # (key, GK clip) of every feature the footprint overlaps with area
    found = []  # (key, first piece, area, distance)
    for key in sorted(groups):
        js = groups[key]
        with_area = [j for j in js if area_of[j] > 0]
        distance = 0.0 if any(touch[j] for j in js) else min(dist_of[j] for j in js)
        if distance > distance_m:
            continue  # the window is a superset; keep only what the rules asked for
        clip = None
        if with_area:
            clip = piece_clip[with_area[0]] if len(with_area) == 1 else shapely.union_all(piece_clip[with_area])
            clips.append((key, clip))
        found.append((key, pieces[near[js[0]]], float(clip.area) if clip is not None else 0.0, distance))
    by_layer: dict[str, list] = defaultdict(list)
    for (layer, _vid, _fid), clip in clips:
        by_layer[layer].append(clip)
    dissolved = {layer: parts[0] if len(parts) == 1 else shapely.union_all(parts) for layer, parts in by_layer.items()}
    measured = [c for _k, c in clips] + list(dissolved.values())
    lonlat = from_crs(np.array(measured, dtype=object), epsg, STORAGE_EPSG) if measured else []
    ell = ellipsoidal_areas(lonlat) if measured else []
    clip_ll = {k: (lonlat[i], float(ell[i])) for i, (k, _c) in enumerate(clips)}
    dissolved_ell = {layer: float(ell[len(clips) + i]) for i, layer in enumerate(dissolved)}
    overlaps: list[Overlap] = []
    for key, first, area, distance in found:
        geometry, area_ell = clip_ll.get(key, (None, 0.0))
        share_feature = None
        if area > 0:
            # shares of a feature compare ellipsoidal areas: the feature may reach far outside this GK zone
            share_feature = min(area_ell / first.feature_area_m2, 1.0) if first.feature_area_m2 > 0 else None
        overlaps.append(Overlap(
            layer=key[0], kind=first.kind, version_id=key[1], feature_id=first.feature_id,
            name=_name(first.attributes), attributes=first.attributes, area_m2=area,
            area_m2_ellipsoidal=area_ell, share_of_footprint=area / fp_area, share_of_feature=share_feature,
            distance_m=distance, geometry=geometry if area > 0 else None,
        ))
    summary = []
    rows_by_layer: dict[str, list[Overlap]] = defaultdict(list)
    for o in overlaps:
        rows_by_layer[o.layer].append(o)
    for layer, rows in sorted(rows_by_layer.items()):
        d_area = float(dissolved[layer].area) if layer in dissolved else 0.0
        summary.append(LayerOverlap(
            layer=layer, kind=rows[0].kind, version_id=rows[0].version_id, area_m2=d_area,
            area_m2_ellipsoidal=dissolved_ell.get(layer, 0.0) if d_area > 0 else 0.0,
            share_of_footprint=d_area / fp_area, features=len(rows),
            min_distance_m=min(r.distance_m for r in rows),
        ))
    return overlaps, summary
