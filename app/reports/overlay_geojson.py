"""An overlay as GIS analysts take it: one RFC 7946 FeatureCollection of the clipped pieces."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import shapely

from app.domain.footprint import Footprint
from app.screening.overlay import OverlayResult
from app.screening.service import AREA_METHOD


def overlay_feature_collection(result: OverlayResult, footprint: Footprint) -> dict[str, Any]:
    """Each feature the footprint touches or lies within ``distance_m`` of, clipped to the footprint
    (``geometry`` null for a feature that is only near), with its areas, shares and distance; the
    footprint, per-layer dissolved totals and the versions used ride in ``ecoredline``."""
    features = []
    for o in result.overlaps:
        geometry = json.loads(shapely.to_geojson(o.geometry)) if o.geometry is not None else None
        features.append({"type": "Feature", "id": o.feature_id, "geometry": geometry, "properties": {
            "layer": o.layer, "kind": o.kind, "version_id": o.version_id, "feature_id": o.feature_id,
            "name": o.name, "area_m2": o.area_m2, "area_m2_ellipsoidal": o.area_m2_ellipsoidal,
            "share_of_footprint": o.share_of_footprint, "share_of_feature": o.share_of_feature,
            "distance_m": o.distance_m, "attributes": o.attributes}})
    echo = footprint.echo
    return {"type": "FeatureCollection", "features": features, "ecoredline": {
        "footprint": {"area_m2_gk": echo.area_m2_gk, "area_m2_ellipsoidal": echo.area_m2_ellipsoidal,
                      "gk_epsg": echo.gk_epsg, "crs_detected": echo.crs_detected, "crs_source": echo.crs_source,
                      "parts": echo.parts, "input_sha256": echo.input_sha256, "linear": echo.linear,
                      "row_width_m": echo.row_width_m,
                      "geometry": json.loads(shapely.to_geojson(footprint.geometry))},
        "layers": [asdict(x) for x in result.layers],
        "layer_versions": result.versions,
        "distance_m": result.distance_m,
        "area_method": AREA_METHOD,
    }}
