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
from app.domain.geometry import ellipsoidal_area, from_crs, to_gk
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
    pieces = store.candidate_pieces(footprint.geometry, distance_m=distance_m, resolved=targets)
    epsg = footprint.echo.gk_epsg
    fp_gk = to_gk(footprint.geometry, epsg)
    shapely.prepare(fp_gk)
    fp_area = fp_gk.area or 1.0
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, p in enumerate(pieces):
        groups[(p.layer_id, p.version_id, p.fid)].append(i)
    pieces_gk = to_gk(np.array([p.geometry for p in pieces], dtype=object), epsg) if pieces else []
    overlaps: list[Overlap] = []
    clipped_by_layer: dict[str, list] = defaultdict(list)
    for (layer, vid, _fid), idx in sorted(groups.items()):
        first = pieces[idx[0]]
        near = shapely.union_all(pieces_gk[idx]) if len(idx) > 1 else pieces_gk[idx[0]]
        hit = fp_gk.intersects(near)
        clip_gk = shapely.intersection(fp_gk, near) if hit else None
        area = float(clip_gk.area) if clip_gk is not None else 0.0
        distance = 0.0 if hit else float(shapely.distance(fp_gk, near))
        if distance > distance_m:
            continue  # the store's window is a superset; keep only what the rules asked for
        clip_ll = from_crs(clip_gk, epsg, STORAGE_EPSG) if clip_gk is not None and area > 0 else None
        share_feature = None
        area_ell = ellipsoidal_area(clip_ll) if clip_ll is not None else 0.0
        if area > 0:
            # shares of a feature compare ellipsoidal areas: the feature may reach far outside this GK zone
            share_feature = min(area_ell / first.feature_area_m2, 1.0) if first.feature_area_m2 > 0 else None
            clipped_by_layer[layer].append(clip_gk)
        overlaps.append(Overlap(
            layer=layer, kind=first.kind, version_id=vid, feature_id=first.feature_id, name=_name(first.attributes),
            attributes=first.attributes, area_m2=area,
            area_m2_ellipsoidal=area_ell,
            share_of_footprint=area / fp_area, share_of_feature=share_feature, distance_m=distance,
            geometry=clip_ll,
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
