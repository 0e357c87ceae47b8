"""The project facts the rules may ask for (``layers/project_attributes.yaml``), for forms and checks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TYPES = {"bool", "number", "int", "choice"}


@dataclass(frozen=True)
class ProjectAttribute:
    name: str
    type: str
    zh: str
    en: str
    choices: tuple[tuple[Any, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "zh": self.zh, "en": self.en,
                "choices": [{"value": v, "zh": zh, "en": en} for v, zh, en in self.choices]}


@cache
def load_project_attributes(layers_dir: Path) -> tuple[ProjectAttribute, ...]:
    doc = yaml.safe_load((layers_dir / "project_attributes.yaml").read_text(encoding="utf-8"))
    out = []
    for name, spec in doc["attributes"].items():
        if spec["type"] not in TYPES:
            raise ValueError(f"project_attributes.yaml: {name}: unknown type {spec['type']!r}")
        choices = tuple((v, c["zh"], c["en"]) for v, c in (spec.get("choices") or {}).items())
        out.append(ProjectAttribute(name, spec["type"], spec["zh"], spec["en"], choices))
    return tuple(out)


def attribute_label(name: str, lang: str = "zh") -> str:
    """``排气筒高度（米） (stack_height_m)``: the label a person reads, with the key the API takes."""
    from app.settings import PROJECT_ROOT, get_settings

    if name == "industry":  # owed when the code given is too coarse for a rule (engine._concerns)
        return f"{'Finer industry code (GB/T 4754 group or class)' if lang == 'en' else '更细的行业代码（中类或小类）'} ({name})"
    for layers_dir in dict.fromkeys((get_settings().layers_dir, PROJECT_ROOT / "layers")):
        try:
            attrs = load_project_attributes(layers_dir)
        except (OSError, ValueError, KeyError, TypeError):  # no or unreadable file there: try the next
            continue
        for a in attrs:
            if a.name == name:
                return f"{a.en if lang == 'en' else a.zh} ({name})"
    return name
