"""The layer catalog (``layers/catalog.yaml``): the kinds the service knows and how to read them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.domain.errors import InputRefused

GEOMETRY_TYPES = {"polygon", "line", "point", "any"}
ATTRIBUTE_TYPES = {"str", "int", "float", "bool", "enum"}
PARTS = {"redline", "protected", "quality", "resource", "access", "spatial", "context"}

_TRUE = {"1", "true", "yes", "y", "t", "是", "达标", "true."}
_FALSE = {"0", "false", "no", "n", "f", "否", "不达标", "未达标"}


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    type: str
    zh: str = ""
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerKind:
    id: str
    name_zh: str
    name_en: str
    part: str
    geometry: str
    attributes: dict[str, AttributeSpec]
    fields: dict[str, str]
    values: dict[str, dict[str, str]]
    style: dict[str, Any]

    def map_attributes(self, raw: dict[str, Any], common: dict[str, str],
                       unread: dict[tuple[str, str], int] | None = None) -> dict[str, Any]:
        """Map one source record onto the kind's schema; unknown source fields are kept as they are.

        Source fields are matched case-insensitively against the kind's ``fields`` (the standard
        三线一单 result-data codes among them) and then the catalog's common name fields; a field
        already named like a schema attribute is taken as is. ``unread`` counts, by (attribute, source
        text), the values of yes/no attributes that could not be read (they become None).
        """
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue  # NaN/Inf are not facts (and JSON cannot carry them)
            upper = str(key).upper()
            target = (
                key if key in self.attributes
                else self.fields.get(upper) or self.fields.get(str(key))
                or common.get(upper) or common.get(str(key))
            )
            if target and target in self.attributes and target not in out:
                out[target] = self._coerce(target, value)
                if out[target] is None and unread is not None and str(value).strip():
                    unread[(target, str(value))] = unread.get((target, str(value)), 0) + 1
            else:
                extra[str(key)] = plain_value(value)
        for key, value in extra.items():
            out.setdefault(key, value)
        return out

    def undeclared(self, records: list[dict[str, Any]], unread: dict[tuple[str, str], int] | None = None) -> list[str]:
        """Warnings for enum values the catalog neither declares nor maps (``试验区`` where it knows 实验区)
        and yes/no values it could not read (``unread``, from ``map_attributes``): rules filtering on them
        cannot tell what the feature is, and report it as not checked."""
        seen: dict[tuple[str, str], int] = dict(unread or {})
        for rec in records:
            for name, spec in self.attributes.items():
                value = rec.get(name)
                if spec.type == "enum" and value not in (None, "") and str(value) not in spec.values:
                    seen[(name, str(value))] = seen.get((name, str(value)), 0) + 1
        out = []
        for (name, value), n in sorted(seen.items()):
            spec = self.attributes[name]
            known = ", ".join(spec.values) if spec.type == "enum" else "是/否 (yes/no)"
            out.append(f"属性 {name} 的取值“{value}”（{n} 个要素）不在目录取值 {known} 之内，依此取值的规则将报告未核查 "
                       f"(attribute {name}: value '{value}' on {n} feature(s) is not one the catalog knows; "
                       "rules filtering on it report those features as not checked)")
        return out

    def _coerce(self, attr: str, value: Any) -> Any:
        spec = self.attributes[attr]
        if spec.type == "enum":
            text = str(value).strip()
            if isinstance(value, float) and value.is_integer():
                text = str(int(value))
            mapped = self.values.get(attr, {}).get(text, text)
            return mapped
        if spec.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            try:  # a REAL column's 1.0 / 0.0 (GeoPackage, DBF with decimals, xlsx), or the same as text
                number = float(text)
                text = str(int(number)) if number.is_integer() else text
            except (ValueError, OverflowError):
                pass
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            return None
        if spec.type == "int":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
        if spec.type == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip() if not isinstance(value, str) else value.strip()


def plain_value(value: Any) -> Any:
    """JSON-friendly value (numpy scalars and dates become Python values/strings)."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Catalog:
    kinds: dict[str, LayerKind]
    common_fields: dict[str, str] = field(default_factory=dict)

    def kind(self, kind_id: str) -> LayerKind:
        try:
            return self.kinds[kind_id]
        except KeyError:
            raise InputRefused(
                "E_UNKNOWN_KIND",
                f"未知的图层类型“{kind_id}”；可用类型：{', '.join(sorted(self.kinds))}",
                f"Unknown layer kind '{kind_id}'; known kinds: {', '.join(sorted(self.kinds))}",
                detail={"kind": kind_id, "known": sorted(self.kinds)},
            ) from None

    def map_attributes(self, kind_id: str, raw: dict[str, Any],
                       unread: dict[tuple[str, str], int] | None = None) -> dict[str, Any]:
        return self.kind(kind_id).map_attributes(raw, self.common_fields, unread)

    def enum_values(self) -> dict[str, dict[str, frozenset[str]]]:
        """``{kind: {attribute: values}}`` of every enum and yes/no attribute (``True``/``False``): the
        values a rule's filter can rely on."""
        return {k: {a.name: frozenset(a.values) if a.type == "enum" else frozenset({"True", "False"})
                    for a in spec.attributes.values() if a.type in ("enum", "bool")}
                for k, spec in self.kinds.items()}


class CatalogError(ValueError):
    """The catalog file itself is wrong: refuse to start."""


def parse_catalog(doc: dict[str, Any], source: str = "catalog.yaml") -> Catalog:
    if not isinstance(doc, dict) or not isinstance(doc.get("kinds"), dict):
        raise CatalogError(f"{source}: top level must have a 'kinds' mapping")
    kinds: dict[str, LayerKind] = {}
    for kid, spec in doc["kinds"].items():
        where = f"{source}: kind '{kid}'"
        for key in ("name_zh", "name_en", "part", "geometry", "attributes", "style"):
            if key not in spec:
                raise CatalogError(f"{where}: missing '{key}'")
        if spec["geometry"] not in GEOMETRY_TYPES:
            raise CatalogError(f"{where}: geometry must be one of {sorted(GEOMETRY_TYPES)}")
        if spec["part"] not in PARTS:
            raise CatalogError(f"{where}: part must be one of {sorted(PARTS)}")
        attrs: dict[str, AttributeSpec] = {}
        for aname, aspec in spec["attributes"].items():
            if aspec.get("type") not in ATTRIBUTE_TYPES:
                raise CatalogError(f"{where}: attribute '{aname}' has no valid type")
            values = tuple(str(v) for v in aspec.get("values", ()))
            if aspec["type"] == "enum" and not values:
                raise CatalogError(f"{where}: enum attribute '{aname}' lists no values")
            attrs[aname] = AttributeSpec(aname, aspec["type"], aspec.get("zh", ""), values)
        fields = {str(k).upper(): v for k, v in (spec.get("fields") or {}).items()}
        for src, target in fields.items():
            if target not in attrs:
                raise CatalogError(f"{where}: field {src} maps onto unknown attribute '{target}'")
        values = {a: {str(k): str(v) for k, v in m.items()} for a, m in (spec.get("values") or {}).items()}
        for aname, mapping in values.items():
            allowed = attrs.get(aname)
            if allowed is None:
                raise CatalogError(f"{where}: values given for unknown attribute '{aname}'")
            bad = [v for v in mapping.values() if allowed.values and v not in allowed.values]
            if bad:
                raise CatalogError(f"{where}: values {bad} not allowed for '{aname}'")
        style = dict(spec["style"])
        if "fill" not in style or "order" not in style:
            raise CatalogError(f"{where}: style needs 'fill' and 'order'")
        kinds[kid] = LayerKind(
            id=kid, name_zh=spec["name_zh"], name_en=spec["name_en"], part=spec["part"],
            geometry=spec["geometry"], attributes=attrs, fields=fields, values=values, style=style,
        )
    common = {str(k).upper(): v for k, v in (doc.get("common_fields") or {}).items()}
    return Catalog(kinds=kinds, common_fields=common)


@lru_cache
def load_catalog(layers_dir: Path) -> Catalog:
    path = Path(layers_dir) / "catalog.yaml"
    with open(path, encoding="utf-8") as fh:
        return parse_catalog(yaml.safe_load(fh), str(path))
