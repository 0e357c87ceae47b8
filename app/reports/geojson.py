"""``result.geojson``: the footprint and the clipped overlap pieces as one FeatureCollection (RFC 7946)."""

from __future__ import annotations

from typing import Any


def result_geojson(record: dict[str, Any]) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    if record.get("footprint_geometry"):
        fp = record.get("footprint", {})
        features.append({"type": "Feature", "id": "footprint", "geometry": record["footprint_geometry"],
                         "properties": {"role": "footprint", "record_id": record.get("id"),
                                        "verdict": record.get("verdict"), "verdict_zh": record.get("verdict_zh"),
                                        "area_m2_gk": fp.get("area_m2_gk"),
                                        "area_m2_ellipsoidal": fp.get("area_m2_ellipsoidal"),
                                        "crs_detected": fp.get("crs_detected")}})
    geoms = record.get("overlap_geometries") or {}
    for o in record.get("overlaps", []):
        geom = geoms.get(o["feature_id"])
        if geom is None:
            continue
        features.append({"type": "Feature", "id": o["feature_id"], "geometry": geom, "properties": {
            "role": "overlap", "layer": o["layer"], "kind": o.get("kind"), "version_id": o.get("version_id"),
            "feature_id": o["feature_id"], "name": o.get("name"), "area_m2": o.get("area_m2"),
            "area_m2_ellipsoidal": o.get("area_m2_ellipsoidal"), "share_of_footprint": o.get("share_of_footprint"),
            "share_of_feature": o.get("share_of_feature")}})
    return {"type": "FeatureCollection", "features": features,
            "ecoredline": {"record_id": record.get("id"), "created_at": record.get("created_at"),
                           "input_sha256": record.get("input_sha256"), "layer_versions": record.get("layer_versions"),
                           "ruleset_version": record.get("ruleset_version"),
                           "software_version": record.get("software_version"),
                           "area_method": record.get("area_method")}}
