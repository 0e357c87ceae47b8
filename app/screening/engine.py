"""Applying the rule sets of every level to an overlay and a project: findings and the verdict.

Every applicable rule of every level is listed side by side; the most restrictive decides. A rule
that needs a project fact that was not given yields ``incomplete`` naming it; a rule whose layer is
missing is reported as not checked and caps the verdict at ``incomplete`` — never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from app.domain.footprint import Footprint
from app.domain.screening import Finding, Overlap, ProjectSpec, most_restrictive
from app.screening.industries import IndustryTable
from app.screening.overlay import OverlayResult
from app.screening.rules import Condition, LoadedRule, Rule, RuleBook

NATIONAL = "100000"
ACCESS_DIMENSIONS = (
    ("spatial_layout", "空间布局约束", "spatial layout constraints"),
    ("pollutant_discharge", "污染物排放管控", "pollutant discharge control"),
    ("risk_prevention", "环境风险防控", "environmental risk prevention"),
    ("resource_efficiency", "资源开发效率要求", "resource efficiency requirements"),
)


def max_distance(rulebook: RuleBook) -> float:
    """The largest distance any rule asks about: how far the overlay must look."""
    return max((r.rule.trigger.distance_m or 0.0 for r in rulebook.rules if r.rule.trigger), default=0.0)


def _test(cond: Condition, value: Any) -> bool:
    op, want = cond.op, cond.value
    try:
        if op == "==":
            return value == want
        if op == "!=":
            return value != want
        if op == "in":
            return value in want
        if op == "not_in":
            return value not in want
        v, w = float(value), float(want)
        return {">": v > w, ">=": v >= w, "<": v < w, "<=": v <= w}[op]
    except (TypeError, ValueError, OverflowError):
        return False


def _comparable(cond: Condition, value: Any) -> bool:
    """Whether ``value`` is a fact this condition can judge (``"60m"`` or ``null`` for a height is not)."""
    if value is None:
        return False
    want = cond.value
    if cond.op in (">", ">=", "<", "<="):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if cond.op in ("in", "not_in"):
        sample = next(iter(want), None) if isinstance(want, list) else None
        return sample is None or type(value) is type(sample) or (
            isinstance(value, (int, float)) and isinstance(sample, (int, float)) and not isinstance(value, bool))
    if isinstance(want, bool):
        return isinstance(value, bool)
    if isinstance(want, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _accepts(value: Any, accepted: list[Any]) -> bool:
    return value in accepted or str(value) in [str(a) for a in accepted]


def _matches_where(o: Overlap, where: dict[str, list[Any]]) -> bool:
    return all(_accepts(o.attributes.get(attr), accepted) for attr, accepted in where.items())


MISSING = (None, "", "None")
Judgeable = dict[str, dict[str, tuple[frozenset[str], bool]]]  # kind -> attribute -> (values, missing spelled out)


def judgeable(rulebook: RuleBook, declared: dict[str, dict[str, frozenset[str]]]) -> Judgeable:
    """For each enum or yes/no attribute a rule filters on: the values a filter can judge (the catalog's,
    and any a rule names itself, as 劣Ⅴ类), and whether some rule of the kind says what a missing value
    means (filters on ``null``)."""
    out: dict[str, dict[str, tuple[set[str], bool]]] = {}
    for lr in rulebook.rules:
        t = lr.rule.trigger
        if t is None:
            continue
        for attr, accepted in t.where.items():
            if attr not in declared.get(t.kind, {}):
                continue  # free text: the filter's own values are all there is to go by
            values, spelled = out.setdefault(t.kind, {}).get(attr, (set(declared[t.kind][attr]), False))
            values |= {str(v) for v in accepted if v not in MISSING}
            out[t.kind][attr] = (values, spelled or any(v in MISSING for v in accepted))
    return {k: {a: (frozenset(v), sp) for a, (v, sp) in attrs.items()} for k, attrs in out.items()}


def _undecidable(o: Overlap, where: dict[str, list[Any]], judge: dict[str, tuple[frozenset[str], bool]]) -> str | None:
    """The attribute whose value leaves open whether ``o`` passes the filter, if nothing else rules it
    out: a value neither the catalog nor a rule knows (a source spelling without a mapping, a yes/no
    field that could not be read), or a missing one no rule of the kind speaks of."""
    open_attr = None
    for attr, accepted in where.items():
        value = o.attributes.get(attr)
        values, spelled = judge.get(attr, (None, True))
        judged = values is None or (spelled if value in MISSING else str(value) in values)
        if not judged:
            open_attr = open_attr or attr
        elif not _accepts(value, accepted):
            return None  # a value that can be judged rules the feature out
    return open_attr


def _concerns(rule: LoadedRule, project: ProjectSpec, code: str, flags: set[str],
              industries: IndustryTable) -> bool | None:
    """Whether the rule concerns the project: True, False, or None when the industry code is too coarse to
    tell (``C30`` for a rule on ``C3011``, or on a flag only finer codes carry)."""
    a = rule.rule.applies_to
    if a.actions and project.action not in a.actions:
        return False
    finer = []  # what only a finer code could tell
    if a.industries and not any(code.startswith(p) for p in a.industries):
        if not any(len(p) > len(code) and p.startswith(code) for p in a.industries):
            return False
        finer.append("industries")
    if a.exclude_industries:
        if any(code.startswith(p) for p in a.exclude_industries):
            return False
        if any(len(p) > len(code) and p.startswith(code) for p in a.exclude_industries):
            finer.append("exclude_industries")
    if a.flags and not set(a.flags) & flags:
        if not any(len(p) > len(code) and p.startswith(code) and set(fl) & set(a.flags)
                   for p, fl in industries.prefix_flags.items()):
            return False
        finer.append("flags")
    return None if finer else True


def _citation(rule: LoadedRule) -> dict[str, Any]:
    return rule.rule.citation.model_dump()


def county_code(code: object) -> str | None:
    """A region's GB/T 2260 code as six digits (a town's 9- or 12-digit code lies in its county's);
    None for anything else, which then says nothing about where a footprint is."""
    text = str(code) if code is not None else ""
    return text[:6] if len(text) >= 6 and text[:6].isdigit() else None


def _prefix(code: str) -> str:
    """The digits of a six-digit GB/T 2260 code that its sub-regions share: 510000 → 51, 511100 → 5111."""
    return code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code


@dataclass(frozen=True)
class AdminHit:
    """An admin region the footprint meets: its county-level code, its clip (lon/lat), and whether it
    holds more of the footprint than the sliver tolerance."""

    code: str
    clip: BaseGeometry | None
    counts: bool


def admin_hits(result: OverlayResult) -> list[AdminHit]:
    return [AdminHit(county, o.geometry, result.touches(o)) for o in result.overlaps
            if o.kind == "admin_region" and o.distance_m == 0 and o.area_m2 > 0
            and (county := county_code(o.attributes.get("code")))]


def _jurisdiction(code: str, hits: list[AdminHit], known: set[str] | None,
                  footprint: BaseGeometry | None, footprint_area_m2: float, sliver_m2: float) -> str:
    """Whether the footprint lies in the region ``code``, from the admin regions it meets and the codes
    the admin layer holds (``known``; None: not asked; ``footprint``: lon/lat).

    ``in``: it meets the region or one of its sub-regions by more than a sliver. ``out``: the layer
    draws the region and the footprint does not meet it; or regions beside the region (neither above
    nor below it) hold all of the footprint but a sliver — as rows of one code, towns or overlapping
    features alike, their clips united; or it meets no admin region while the layer draws one that
    holds the region. ``unknown``: otherwise; the layer does not draw the region (drawn sub-regions do
    not show its extent), and part of the footprint may lie in it."""
    mine = _prefix(code)
    if any(h.counts and h.code.startswith(mine) for h in hits):
        return "in"
    if known is None or code in known:
        return "out"
    if not any(h.counts for h in hits):
        # met by no region (slivers aside): outside every drawn one, so outside the region if a drawn one
        # holds it
        return "out" if any(code.startswith(_prefix(k)) for k in known) else "unknown"
    beside = [h.clip for h in hits if not h.code.startswith(mine) and not code.startswith(_prefix(h.code))
              and h.clip is not None]
    if not beside or footprint is None or footprint.area <= 0:
        return "unknown"
    covered = min(shapely.union_all(beside).area / footprint.area, 1.0)  # a ratio: lon/lat degrees will do
    return "out" if footprint_area_m2 * (1.0 - covered) <= sliver_m2 else "unknown"


def evaluate(
    rulebook: RuleBook, result: OverlayResult, project: ProjectSpec, industries: IndustryTable,
    admin_layer_codes: set[str] | None = None, footprint: Footprint | None = None,
    judge: Judgeable | None = None,
) -> list[Finding]:
    """``admin_layer_codes``: the codes of every region in the admin layers the overlay used, and the
    ``footprint``: a local rule set whose region the layer lacks is reported as not checked where the
    footprint may lie in it (``_jurisdiction``), instead of being passed over. ``judge``: what rule
    filters can judge (``judgeable``, built once per rule book and catalog); a feature whose value a
    rule's filter cannot judge reports that rule as not checked for it (None: every value is judged)."""
    judge = judge or {}
    kinds_present = set(result.kinds.values())
    regions = admin_hits(result)
    fp_geom = footprint.geometry if footprint is not None else None
    fp_area = footprint.echo.area_m2_gk if footprint is not None else 0.0
    code = industries.get(project.industry).code
    flags = set(industries.flags_for(code))
    findings: list[Finding] = []
    for lr in rulebook.rules:
        rule, rs = lr.rule, lr.ruleset
        concerns = _concerns(lr, project, code, flags, industries)
        if concerns is False:
            continue
        if rs.jurisdiction != NATIONAL:
            if "admin_region" not in kinds_present:
                findings.append(_not_checked(lr, "admin_region", "行政区图层缺失，无法判断该地方规则是否适用",
                                             "The admin region layer is missing: cannot tell whether this local "
                                             "rule applies"))
                continue
            where = _jurisdiction(rs.jurisdiction, regions, admin_layer_codes, fp_geom, fp_area,
                                  result.sliver_applied)
            if where == "unknown":
                findings.append(_not_checked(
                    lr, "admin_region", f"行政区图层没有 {rs.jurisdiction}（{rs.name_zh}）的边界，无法判断该地方规则是否适用",
                    f"The admin region layer has no boundary for {rs.jurisdiction} ({rs.name_en}): cannot tell "
                    "whether this local rule applies"))
                continue
            if where == "out":
                continue
        hits: list[Overlap] = []
        layer = None
        if rule.trigger is not None:
            t = rule.trigger
            if t.kind not in kinds_present:
                findings.append(_not_checked(lr, t.kind, f"{t.kind} 图层缺失，该规则未能核查",
                                             f"No {t.kind} layer is loaded: this rule was not checked"))
                continue
            open_for: list[tuple[Overlap, str]] = []  # features the filter cannot judge, and why
            for o in result.overlaps:
                if o.kind != t.kind:
                    continue
                if (t.relation == "intersects" and result.touches(o)) or (
                        t.relation == "within" and o.distance_m <= (t.distance_m or 0)):
                    if _matches_where(o, t.where):
                        hits.append(o)
                    elif (attr := _undecidable(o, t.where, judge.get(t.kind, {}))) is not None:
                        open_for.append((o, attr))
            if not hits:
                if open_for:
                    findings.append(_undecided(lr, open_for))
                continue
            layer = hits[0].layer
        conds = rule.applies_to.conditions
        stated = {c.attribute for c in conds if _comparable(c, project.attributes.get(c.attribute))}
        if any(c.attribute in stated and not _test(c, project.attributes[c.attribute]) for c in conds):
            continue  # a stated fact already rules the project out: nothing is owed, not even a finer code
        owed = _owed(rule, project, code, None if concerns is None else stated)
        if owed is not None:
            missing, zh, en = owed
            findings.append(Finding(
                rule_id=rule.id, verdict="incomplete", level=rs.level, jurisdiction=rs.jurisdiction,
                status="missing_attribute", message_zh=f"{rule.title_zh}：{zh}{rule.message_zh}",
                message_en=f"{rule.title_en}: {en} {rule.message_en}", layer=layer,
                feature_ids=[h.feature_id for h in hits], citation=_citation(lr), missing=missing))
            continue
        verdict, ev_zh, ev_en = rule.verdict, None, None
        for exc in rule.exceptions:
            value = project.attributes.get(exc.when.attribute)
            if value is not None and _test(exc.when, value):
                verdict, ev_zh, ev_en = exc.verdict, exc.evidence_zh, exc.evidence_en
                break
        findings.append(Finding(
            rule_id=rule.id, verdict=verdict, level=rs.level, jurisdiction=rs.jurisdiction, status="fired",
            message_zh=rule.message_zh, message_en=rule.message_en, layer=layer,
            feature_ids=[h.feature_id for h in hits], citation=_citation(lr), evidence_zh=ev_zh, evidence_en=ev_en))
    findings += _access_lists(result)
    return findings


def _owed(rule: Rule, project: ProjectSpec, code: str,
          stated: set[str] | None = None) -> tuple[list[str], str, str] | None:
    """What the project still owes before the rule can decide (names, zh, en), or None.

    ``stated`` None: the industry code is too coarse to tell whether the rule concerns it. Otherwise,
    first a condition's fact that is absent, null or of a type the rule cannot compare; then an
    exception's fact given in a form it cannot judge (``"3"`` or ``true`` for an item number), which is
    owed like a missing one, not read as no exception."""
    if stated is None:
        return (["industry"], f"行业代码 {code} 不足以判断本规则是否适用，请给出更细的国民经济行业分类代码（中类或小类）。",
                f"industry code {code} is too coarse to tell whether this rule applies; state the GB/T 4754-2017 "
                "group or class.")
    missing = list(dict.fromkeys(c.attribute for c in rule.applies_to.conditions if c.attribute not in stated))
    if missing:
        return missing, f"需补充项目信息 {', '.join(missing)} 才能判定。", \
            f"the project must state {', '.join(missing)} to decide."
    given = [(e, project.attributes.get(e.when.attribute)) for e in rule.exceptions]
    unjudged = [e.when.attribute for e, v in given if v is not None and not _comparable(e.when, v)]
    if unjudged and not any(v is not None and _comparable(e.when, v) and _test(e.when, v) for e, v in given):
        return unjudged, f"项目信息 {', '.join(unjudged)} 的取值无法判定，请按表单取值重新填写。", \
            f"the value given for {', '.join(unjudged)} cannot be judged; state it as the form offers."
    return None


def _undecided(lr: LoadedRule, open_for: list[tuple[Overlap, str]]) -> Finding:
    """A rule whose filter cannot judge the features in its reach: not checked for them, by name."""
    named = "；".join(f"{o.name or o.feature_id}（{attr}={o.attributes.get(attr)!s}）" for o, attr in open_for)
    named_en = "; ".join(f"{o.name or o.feature_id} ({attr}={o.attributes.get(attr)!s})" for o, attr in open_for)
    rule, rs = lr.rule, lr.ruleset
    return Finding(rule_id=rule.id, verdict="incomplete", level=rs.level, jurisdiction=rs.jurisdiction,
                   status="not_checked",
                   message_zh=f"{rule.title_zh}：图层要素的属性取值无法判断本规则是否适用，未能核查：{named}",
                   message_en=f"{rule.title_en}: the layer's features carry values this rule cannot judge, so it was "
                              f"not checked for them: {named_en}",
                   layer=open_for[0][0].layer, feature_ids=[o.feature_id for o, _a in open_for],
                   citation=_citation(lr))


def _not_checked(lr: LoadedRule, kind: str, zh: str, en: str) -> Finding:
    rule, rs = lr.rule, lr.ruleset
    return Finding(rule_id=rule.id, verdict="incomplete", level=rs.level, jurisdiction=rs.jurisdiction,
                   status="not_checked", message_zh=f"{rule.title_zh}：{zh}", message_en=f"{rule.title_en}: {en}",
                   layer=kind, feature_ids=[], citation=_citation(lr))


def _access_lists(result: OverlayResult) -> list[Finding]:
    """The four 准入 dimensions of every control unit the footprint touches, to be checked by a person."""
    out = []
    for o in result.overlaps:
        if o.kind != "control_unit" or not result.touches(o):
            continue
        a = o.attributes
        parts_zh = [f"【{zh}】{a[key]}" for key, zh, _ in ACCESS_DIMENSIONS if a.get(key)]
        if not parts_zh:
            continue
        cat = {"priority": "优先保护单元", "key": "重点管控单元", "general": "一般管控单元"}.get(a.get("category"), "")
        out.append(Finding(
            # a unit's code names it across versions; a codeless unit is named by ``feature_ids`` alone
            rule_id=f"access_list.{a['code']}" if a.get("code") else "access_list", verdict="allowed", level="unit",
            jurisdiction=str(a.get("admin_code") or ""), status="access_list",
            message_zh=f"涉及{cat}“{o.name}”（占用 {o.area_m2:,.0f} m²），请逐条对照其生态环境准入清单：" + "；".join(parts_zh),
            message_en=f"Touches control unit '{o.name}' ({o.area_m2:,.0f} m²): check the project against each "
                       f"requirement of its access list ({', '.join(en for k, _, en in ACCESS_DIMENSIONS if a.get(k))}).",
            layer=o.layer, feature_ids=[o.feature_id],
            citation={"document": f"环境管控单元 {a.get('code') or ''} 生态环境准入清单", "number": None,
                      "clause": "准入清单四个维度", "quote": "；".join(parts_zh), "quote_kind": "layer_attribute",
                      "seed": None, "source": None, "line": None},
        ))
    return out


def decide(findings: list[Finding]) -> str:
    """Most restrictive wins; access-list reminders do not decide."""
    return most_restrictive([f.verdict for f in findings if f.status != "access_list"])
