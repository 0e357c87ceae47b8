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

from app.domain.crs import STORAGE_EPSG
from app.domain.footprint import Footprint
from app.domain.geometry import ellipsoidal_area, ellipsoidal_areas, from_crs, to_gk
from app.domain.screening import LayerOverlap, Overlap
from app.store.base import LayerStore


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
    # the store answers with a lon/lat window; the pieces are projected once, here, and measured in the
    # footprint's GK plane (distances, clips, areas), vectorised over every feature
    pieces = store.candidate_pieces(footprint.geometry, distance_m=distance_m, resolved=targets, window_only=True)
    epsg = footprint.echo.gk_epsg
    fp_gk = to_gk(footprint.geometry, epsg)
    shapely.prepare(fp_gk)
    fp_area = fp_gk.area or 1.0
    overlaps: list[Overlap] = []
    clipped_by_layer: dict[str, list] = defaultdict(list)
    if pieces:
        pieces_gk = to_gk(np.array([p.geometry for p in pieces], dtype=object), epsg)
        near_piece = shapely.dwithin(pieces_gk, fp_gk, distance_m) if distance_m > 0 else np.ones(len(pieces), bool)
        groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        for i in np.flatnonzero(near_piece):
            p = pieces[i]
            groups[(p.layer_id, p.version_id, p.fid)].append(int(i))
        keys = sorted(groups)
        nears = np.array([shapely.union_all(pieces_gk[groups[k]]) if len(groups[k]) > 1 else pieces_gk[groups[k][0]]
                          for k in keys], dtype=object)
        hits = shapely.intersects(fp_gk, nears) if len(nears) else np.zeros(0, bool)
        clips = np.full(len(nears), None, dtype=object)
        clips[hits] = shapely.intersection(fp_gk, nears[hits])
        areas = np.zeros(len(nears))
        areas[hits] = shapely.area(clips[hits])
        distances = np.zeros(len(nears))
        distances[~hits] = shapely.distance(fp_gk, nears[~hits])
        measured = areas > 0
        clips_ll = np.full(len(nears), None, dtype=object)
        areas_ell = np.zeros(len(nears))
        if measured.any():
            clips_ll[measured] = from_crs(clips[measured], epsg, STORAGE_EPSG)
            areas_ell[measured] = ellipsoidal_areas(clips_ll[measured])
        for j, (layer, vid, _fid) in enumerate(keys):
            if distances[j] > distance_m:
                continue  # the window is a superset; keep only what the rules asked for
            first = pieces[groups[keys[j]][0]]
            area, area_ell = float(areas[j]), float(areas_ell[j])
            share_feature = None
            if area > 0:
                # shares of a feature compare ellipsoidal areas: the feature may reach far outside this GK zone
                share_feature = min(area_ell / first.feature_area_m2, 1.0) if first.feature_area_m2 > 0 else None
                clipped_by_layer[layer].append(clips[j])
            overlaps.append(Overlap(
                layer=layer, kind=first.kind, version_id=vid, feature_id=first.feature_id,
                name=_name(first.attributes), attributes=first.attributes, area_m2=area,
                area_m2_ellipsoidal=area_ell, share_of_footprint=area / fp_area, share_of_feature=share_feature,
                distance_m=float(distances[j]), geometry=clips_ll[j] if area > 0 else None,
            ))
    summary = []
    by_layer: dict[str, list[Overlap]] = defaultdict(list)
    for o in overlaps:
        by_layer[o.layer].append(o)
    for layer, rows in sorted(by_layer.items()):
        clipped = clipped_by_layer.get(layer, [])
        dissolved = shapely.union_all(clipped) if clipped else None
        d_area = float(dissolved.area) if dissolved is not None else 0.0
        summary.append(LayerOverlap(
            layer=layer, kind=rows[0].kind, version_id=rows[0].version_id, area_m2=d_area,
            area_m2_ellipsoidal=ellipsoidal_area(from_crs(dissolved, epsg, STORAGE_EPSG)) if d_area > 0 else 0.0,
            share_of_footprint=d_area / fp_area, features=len(rows),
            min_distance_m=min(r.distance_m for r in rows),
        ))
    return OverlayResult(overlaps, summary, versions, kinds, distance_m, sliver_m2)
