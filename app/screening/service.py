"""One screening, end to end: footprint + project → overlay → findings → verdict → an immutable record.

The record holds everything needed to explain and reproduce the result years later: the input
bytes and their SHA-256, the footprint echo, the project, the overlaps, the findings with their
citations, the layer version of every layer, the rule-set version, the software version and the
parameters. A re-run reads the recorded input again and screens it against the recorded versions
(same result) or the current ones (the differences a zoning update causes).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import shapely

from app import __version__
from app.domain.catalog import Catalog
from app.domain.errors import InputRefused
from app.domain.footprint import Footprint
from app.domain.jsontext import KEPT_DEPTH, refuse_unkeepable
from app.domain.screening import VERDICT_ZH, ProjectSpec, shallow_dict
from app.ingest.boundary import BoundaryOptions, read_boundary, read_geojson_object
from app.screening.engine import Judgeable, county_code, decide, evaluate, judgeable, max_distance
from app.screening.industries import IndustryTable
from app.screening.overlay import OverlayResult, overlay
from app.screening.rules import RuleBook
from app.store.base import LayerStore

AREA_METHOD = ("面积按项目边界所在 3° 高斯-克吕格投影带（CGCS2000）平面计算，另列 CGCS2000 椭球面积；"
               "各图层重叠部分先融合再计算占比。 Areas: Gauss–Krüger plane of the footprint's 3° zone "
               "(CGCS2000), ellipsoidal area alongside; each layer's overlap is dissolved before shares.")


@dataclass
class Screener:
    """What a screening needs, built once per process."""

    store: LayerStore
    catalog: Catalog
    rulebook: RuleBook
    industries: IndustryTable
    sliver_m2: float = 1.0
    limits: dict[str, Any] = field(default_factory=dict)  # the operator's boundary limits, for re-runs
    _regions: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)  # admin version -> codes

    # built once, on first use: what the engine judges layer features by
    @cached_property
    def _declared(self) -> dict[str, dict[str, frozenset[str]]]:
        """The catalog's enum values, for the engine to tell a value it cannot judge."""
        return self.catalog.enum_values()

    @cached_property
    def _judge(self) -> Judgeable:
        """What the rule filters can judge (``engine.judgeable``: 80 µs to build)."""
        return judgeable(self.rulebook, self._declared)

    @cached_property
    def catalog_version(self) -> str:
        """A hash of the values the engine judges layer features by (``_declared``): like the rule files,
        they decide findings, so a record names the ones it was made with."""
        text = json.dumps({k: {a: sorted(v) for a, v in attrs.items()} for k, attrs in self._declared.items()},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _admin_codes(self, result: OverlayResult) -> set[str]:
        """Every region code in the admin layer versions the overlay used (read once per version)."""
        codes: set[str] = set()
        for layer, kind in result.kinds.items():
            if kind != "admin_region":
                continue
            vid = result.versions[layer]
            if vid not in self._regions:
                found, offset = set(), 0
                while True:
                    page = self.store.features(layer, version_id=vid, limit=1000, offset=offset, geometry=False)
                    # county-level codes only: a town's boundary does not show its county's extent
                    found |= {c for c in map(str, (f.attributes.get("code") for f in page.features))
                              if county_code(c) == c}
                    offset += len(page.features)
                    if not page.features or offset >= page.total:
                        break
                self._regions[vid] = frozenset(found)
            codes |= self._regions[vid]
        return codes

    def screen(
        self,
        footprint: Footprint,
        project: ProjectSpec,
        *,
        input_bytes: bytes | None,
        input_kind: str,
        options: BoundaryOptions,
        pinned: dict[str, str] | None = None,
        rerun_of: str | None = None,
        buffer_m: float | None = None,
        sliver_m2: float | None = None,
    ) -> dict[str, Any]:
        industry = self.industries.get(project.industry)
        distance = max_distance(self.rulebook) if buffer_m is None else buffer_m
        sliver = self.sliver_m2 if sliver_m2 is None else sliver_m2
        result = overlay(self.store, footprint, distance_m=distance, pinned=pinned, sliver_m2=sliver)
        findings = evaluate(self.rulebook, result, project, self.industries, self._admin_codes(result), footprint,
                            self._judge)
        verdict = decide(findings)
        now = datetime.now(UTC)
        record = {
            "id": f"S{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}",
            "created_at": now.isoformat(),
            "verdict": verdict,
            "verdict_zh": VERDICT_ZH[verdict],
            "project": {**project.to_dict(), "industry_name": industry.name,
                        "industry_flags": list(self.industries.flags_for(industry.code))},
            "footprint": footprint.echo.to_dict(),
            "footprint_geometry": json.loads(shapely.to_geojson(footprint.geometry)),
            "overlaps": [o.to_dict() for o in result.overlaps],
            "layer_overlaps": [shallow_dict(x) for x in result.layers],
            "overlap_geometries": {o.feature_id: json.loads(shapely.to_geojson(o.geometry))
                                   for o in result.overlaps if o.geometry is not None},
            "findings": [f.to_dict() for f in findings],
            "layer_versions": result.versions,
            "ruleset_version": self.rulebook.version,
            "ruleset_files": list(self.rulebook.files),
            "catalog_version": self.catalog_version,
            "software_version": __version__,
            "store": self.store.kind,
            "input_sha256": footprint.echo.input_sha256,
            "input_kind": input_kind,
            "area_method": AREA_METHOD,
            "parameters": {"buffer_m": distance, "sliver_m2": sliver, "sliver_m2_applied": result.sliver_applied,
                           "boundary_options": _options_dict(options), "rerun_of": rerun_of,
                           "as_of_versions": "recorded" if pinned is not None else "current"},
        }
        return record

    def screen_and_keep(self, footprint: Footprint, project: ProjectSpec, *, input_bytes: bytes | None,
                        input_kind: str, options: BoundaryOptions, pinned: dict[str, str] | None = None,
                        rerun_of: str | None = None, buffer_m: float | None = None,
                        sliver_m2: float | None = None) -> dict[str, Any]:
        record = self.screen(footprint, project, input_bytes=input_bytes, input_kind=input_kind, options=options,
                             pinned=pinned, rerun_of=rerun_of, buffer_m=buffer_m, sliver_m2=sliver_m2)
        # what came from the user, once more before it is kept: both stores must take it alike (the layers'
        # own attributes and the geometries are the stores' and the engine's)
        refuse_unkeepable([record["project"], record["footprint"], record["parameters"]], "E_REQUEST_INVALID",
                          "筛查记录无法保存", "The screening record cannot be kept", KEPT_DEPTH)
        self.store.save_screening(record, input_bytes)
        return record

    def rerun(self, screening_id: str, as_of: str = "recorded") -> dict[str, Any]:
        if as_of not in ("recorded", "current"):
            raise InputRefused("E_REQUEST_INVALID", "as_of 须为 recorded 或 current", "as_of must be recorded or current")
        old = self.store.get_screening(screening_id)
        data = self.store.get_screening_input(screening_id)
        # read as recorded, within the operator's limits of today (a limit admits or refuses, it does not
        # change a result; the sliver area does, and stays as recorded)
        admit = {k: v for k, v in self.limits.items() if k != "sliver_m2"}
        options = replace(BoundaryOptions(**old["parameters"]["boundary_options"]), **admit)
        footprint = read_footprint(data or b"", old["input_kind"], old["footprint"].get("file_name"), options)
        project = ProjectSpec.parse(old["project"], kept=True)
        recorded = as_of == "recorded"
        params = old["parameters"]
        new = self.screen_and_keep(footprint, project, input_bytes=data, input_kind=old["input_kind"],
                                   options=options, pinned=old["layer_versions"] if recorded else None,
                                   rerun_of=screening_id, buffer_m=params["buffer_m"] if recorded else None,
                                   sliver_m2=params["sliver_m2"] if recorded else None)
        return {"as_of": as_of, "rerun_of": screening_id, **compare(old, new), "record": new}


def read_footprint(data: bytes, input_kind: str, file_name: str | None, options: BoundaryOptions) -> Footprint:
    if input_kind == "geometry":
        return read_geojson_object(json.loads(data), options)
    return read_boundary(data, file_name or "upload", options)


def _options_dict(options: BoundaryOptions) -> dict[str, Any]:
    return asdict(options)


def _identities(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Each overlapped feature's identity across versions of its layer, in both records, so that a
    re-run on a republished layer compares features and not version-scoped ids
    (``eco_redline.v3.17``): the layer and the feature's ``code``, else the layer and all its
    attributes — a key only where it tells the layer's overlapped features apart in both records (so
    the two sides choose alike) — else the versioned id (the feature is then new whatever it is)."""
    keyed = [_keys(old), _keys(new)]
    seen = [Counter(k for rows in side.values() for _o, pair in rows for k in pair if k is not None)
            for side in keyed]
    out: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for i, side in enumerate(keyed):
        for rows in side.values():
            for o, pair in rows:
                key = next((k for k in pair if k is not None and seen[i][k] == 1 and seen[1 - i][k] <= 1), None)
                out[i][o["feature_id"]] = key or o["feature_id"]
    return out


def _keys(record: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], tuple[str | None, str]]]]:
    """Per layer, each overlap with its candidate keys (layer-prefixed): by code, by attributes."""
    rows_of: dict[str, list[tuple[dict[str, Any], tuple[str | None, str]]]] = {}
    for o in record["overlaps"]:
        attrs, layer = o.get("attributes") or {}, o["layer"]
        code = _by_code(attrs)
        rows_of.setdefault(layer, []).append(
            (o, (f"{layer}|{code}" if code else None, f"{layer}|{_by_attributes(attrs)}")))
    return rows_of


def _by_code(attributes: dict[str, Any]) -> str | None:
    code = attributes.get("code")
    return f"code={code}" if code not in (None, "") else None


def _by_attributes(attributes: dict[str, Any]) -> str:
    return "attributes=" + json.dumps(attributes, sort_keys=True, ensure_ascii=False, default=str)


def _finding_keys(record: dict[str, Any], ident: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Findings by rule and features. An access-list finding is keyed by its unit's identity alone: its
    rule id adds the unit's code (and, in records made before 2026-12, a codeless unit's versioned id)."""
    out = {}
    for f in record["findings"]:
        rule = "access_list" if f.get("status") == "access_list" else f["rule_id"]
        out[f"{rule}|{','.join(sorted(ident.get(i, i) for i in f['feature_ids']))}"] = f
    return out


DISTANCE_SAME_M = 1e-3


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two screenings of the same input: verdict, findings, overlaps, versions.
    Features are matched across layer versions by ``_identities``: an unchanged feature of a
    republished layer is no change, a redrawn one an area change, a recoded one (its attributes) an
    attribute change."""
    old_ident, new_ident = _identities(old, new)
    of, nf = _finding_keys(old, old_ident), _finding_keys(new, new_ident)
    oo = {old_ident[o["feature_id"]]: o for o in old["overlaps"]}
    no = {new_ident[o["feature_id"]]: o for o in new["overlaps"]}
    both = sorted(set(oo) & set(no))
    changed_areas = [
        {"feature_id": no[k]["feature_id"], "feature_id_before": oo[k]["feature_id"],
         "before_m2": oo[k]["area_m2"], "after_m2": no[k]["area_m2"]}
        for k in both if abs(oo[k]["area_m2"] - no[k]["area_m2"]) > 1e-6 * max(1.0, oo[k]["area_m2"])
    ]
    # a feature moved nearer or farther (a shoreline redrawn): distances to the millimetre
    changed_distances = [
        {"feature_id": no[k]["feature_id"], "feature_id_before": oo[k]["feature_id"],
         "before_m": oo[k]["distance_m"], "after_m": no[k]["distance_m"]}
        for k in both if abs(oo[k]["distance_m"] - no[k]["distance_m"]) > DISTANCE_SAME_M
    ]
    # a feature matched by its code may have changed what it says (a unit's category, its access list)
    changed_attributes = []
    for k in both:
        before, after = oo[k].get("attributes") or {}, no[k].get("attributes") or {}
        changes = {a: {"before": before.get(a), "after": after.get(a)}
                   for a in sorted(set(before) | set(after)) if before.get(a) != after.get(a)}
        if changes:
            changed_attributes.append({"feature_id": no[k]["feature_id"], "feature_id_before": oo[k]["feature_id"],
                                       "changes": changes})
    versions = {k: {"before": old["layer_versions"].get(k), "after": new["layer_versions"].get(k)}
                for k in sorted(set(old["layer_versions"]) | set(new["layer_versions"]))
                if old["layer_versions"].get(k) != new["layer_versions"].get(k)}
    # the same rule on the same features, decided otherwise (its verdict; fired where it was not checked;
    # other project facts owed)
    def decision(f: dict[str, Any]) -> dict[str, Any]:
        return {"verdict": f["verdict"], "status": f.get("status"), "missing": sorted(f.get("missing") or [])}

    changed_findings = [
        {"rule_id": nf[k]["rule_id"], "feature_ids": nf[k]["feature_ids"], "before": decision(of[k]),
         "after": decision(nf[k])}
        for k in sorted(set(of) & set(nf)) if decision(of[k]) != decision(nf[k])
    ]
    diff = {
        "verdict": {"before": old["verdict"], "after": new["verdict"]},
        "findings_added": [nf[k] for k in sorted(set(nf) - set(of))],
        "findings_removed": [of[k] for k in sorted(set(of) - set(nf))],
        "findings_changed": changed_findings,
        "overlaps_added": [no[k] for k in sorted(set(no) - set(oo))],
        "overlaps_removed": [oo[k] for k in sorted(set(oo) - set(no))],
        "overlap_areas_changed": changed_areas,
        "overlap_distances_changed": changed_distances,
        "overlap_attributes_changed": changed_attributes,
        "layer_versions_changed": versions,
        "ruleset_changed": old["ruleset_version"] != new["ruleset_version"],
        # (None: the old record was made before records named it)
        "catalog_changed": old["catalog_version"] != new["catalog_version"] if "catalog_version" in old else None,
    }
    diff["same"] = (diff["verdict"]["before"] == diff["verdict"]["after"] and not diff["findings_added"]
                    and not diff["findings_removed"] and not diff["overlaps_added"]
                    and not diff["overlaps_removed"] and not changed_areas and not changed_distances
                    and not changed_attributes and not changed_findings)
    return diff
