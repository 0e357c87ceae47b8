"""The vocabulary of a screening: the project, what overlaps it, what the rules found, the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from app.domain.errors import InputRefused
from app.domain.jsontext import KEPT_DEPTH, refuse_unkeepable

ACTIONS = ("new", "expand", "rebuild", "relocate", "upgrade")
ACTION_ZH = {"new": "新建", "expand": "扩建", "rebuild": "改建", "relocate": "迁建", "upgrade": "技改"}
VERDICTS = ("prohibited", "restricted", "incomplete", "conditional", "allowed")  # most restrictive first
VERDICT_ZH = {"prohibited": "判定不通过", "restricted": "受限准入", "incomplete": "待补充信息",
              "conditional": "有条件准入", "allowed": "准入"}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def shallow_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a dict without ``asdict``'s deep copy (records are built on every screening)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {name: getattr(obj, name) for name in names}


def most_restrictive(verdicts: list[str]) -> str:
    return min(verdicts, key=VERDICTS.index) if verdicts else "allowed"


MAX_NAME_CHARS = 200
MAX_ATTRIBUTES = 100
MAX_KEY_CHARS = 64
MAX_TEXT_CHARS = 500


@dataclass
class ProjectSpec:
    name: str | None
    industry: str  # GB/T 4754-2017 code (a prefix is allowed)
    action: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, doc: dict[str, Any] | None, *, kept: bool = False) -> ProjectSpec:
        """``kept``: a project read back from a record (a re-run), taken as it was kept, without the
        length limits that came later."""
        doc = doc or {}
        industry, action = doc.get("industry"), doc.get("action")
        if not industry or not isinstance(industry, str):
            raise InputRefused("E_PROJECT_INDUSTRY", "项目须给出国民经济行业分类代码 industry（如 C2614）",
                               "The project needs an industry code (GB/T 4754-2017, e.g. C2614)")
        if action not in ACTIONS:
            raise InputRefused("E_PROJECT_ACTION", f"项目建设性质 action 须为 {', '.join(ACTIONS)} 之一",
                               f"The project action must be one of {', '.join(ACTIONS)}", detail={"action": action})
        attrs = doc.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise InputRefused("E_PROJECT_INVALID", "attributes 须为对象", "attributes must be an object")
        bad = [k for k, v in attrs.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise InputRefused("E_PROJECT_INVALID", f"项目属性 {', '.join(bad)} 不是有限数值",
                               f"Project attributes {', '.join(bad)} are not finite numbers", detail={"attributes": bad})
        width = attrs.get("row_width_m")
        if width is not None and (isinstance(width, bool) or not isinstance(width, (int, float))
                                  or not 0 < width <= 1000):
            raise InputRefused("E_PROJECT_INVALID", "row_width_m（用地宽度）须为 0–1000 米之间的数值",
                               "row_width_m (right-of-way width) must be a number of metres in (0, 1000]",
                               detail={"row_width_m": str(width)})
        # (a re-run parses a kept project again: no tighter than that)
        refuse_unkeepable(doc, "E_PROJECT_INVALID", "项目信息无法保存", "The project cannot be kept", KEPT_DEPTH)
        name = doc.get("name")
        if name is not None and not isinstance(name, (str, int, float)):
            raise InputRefused("E_PROJECT_INVALID", "项目名称 name 须为文字", "The project name must be text")
        # what a report prints: a name of thousands of characters took minutes to lay out in the PDF
        too_long = (["name"] if name is not None and len(str(name)) > MAX_NAME_CHARS else []) + [
            str(k) for k, v in attrs.items()
            if len(str(k)) > MAX_KEY_CHARS or (isinstance(v, str) and len(v) > MAX_TEXT_CHARS)]
        if not kept and (too_long or len(attrs) > MAX_ATTRIBUTES):
            raise InputRefused(
                "E_PROJECT_INVALID",
                f"项目信息过长：名称至多 {MAX_NAME_CHARS} 字，属性至多 {MAX_ATTRIBUTES} 项、名至多 {MAX_KEY_CHARS} 字、"
                f"文字值至多 {MAX_TEXT_CHARS} 字",
                f"Project facts too long: a name of at most {MAX_NAME_CHARS} characters, at most {MAX_ATTRIBUTES} "
                f"attributes, keys of at most {MAX_KEY_CHARS} and text values of at most {MAX_TEXT_CHARS} characters",
                detail={"fields": too_long[:10], "attributes": len(attrs)})
        return cls(str(name) if name is not None else None, industry.strip().upper(), action, dict(attrs))

    def to_dict(self) -> dict[str, Any]:
        return {**shallow_dict(self), "attributes": dict(self.attributes)}


@dataclass
class Overlap:
    """One feature near the footprint: its clipped area (GK plane of the footprint's zone) and distance."""

    layer: str
    kind: str
    version_id: str
    feature_id: str
    name: str | None
    attributes: dict[str, Any]
    area_m2: float  # GK plane, 3° zone of the footprint
    area_m2_ellipsoidal: float
    share_of_footprint: float
    share_of_feature: float | None
    distance_m: float  # 0 when it overlaps
    geometry: Any = None  # clipped part (EPSG:4490), kept out of the JSON record's overlap rows
    polygonal: bool = True  # the feature is an area (a point or line touches with no area); not recorded

    def to_dict(self) -> dict[str, Any]:
        d = shallow_dict(self)
        d.pop("geometry")
        d.pop("polygonal")
        return d


@dataclass
class LayerOverlap:
    """A layer's overlap dissolved, so overlapping features never count twice."""

    layer: str
    kind: str
    version_id: str
    area_m2: float
    area_m2_ellipsoidal: float
    share_of_footprint: float
    features: int
    min_distance_m: float | None


@dataclass
class Finding:
    rule_id: str
    verdict: str
    level: str  # national | province | prefecture | county
    jurisdiction: str
    status: str  # fired | not_checked | missing_attribute | access_list
    message_zh: str
    message_en: str
    layer: str | None
    feature_ids: list[str]
    citation: dict[str, Any]
    evidence_zh: str | None = None
    evidence_en: str | None = None
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return shallow_dict(self)
