"""GB/T 4754-2017 industries: every code of the standard, searchable, with the flags rules use."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.domain.errors import InputRefused

LEVEL_ZH = {"section": "门类", "division": "大类", "group": "中类", "class": "小类"}


@dataclass(frozen=True)
class Industry:
    code: str  # C2614
    name: str
    level: str  # section | division | group | class
    parent: str | None


@dataclass(frozen=True)
class IndustryTable:
    by_code: dict[str, Industry]
    flags: dict[str, dict[str, str]]  # flag -> {zh, en, basis}
    prefix_flags: dict[str, tuple[str, ...]]  # code prefix -> flags
    numeric: dict[str, str]  # "2614" -> "C2614": the numeric codes are unique on their own

    def get(self, code: str) -> Industry:
        code = normalise(code)
        ind = self.by_code.get(code) or self.by_code.get(self.numeric.get(code, ""))
        if ind is None:
            raise InputRefused("E_INDUSTRY_UNKNOWN", f"“{code}”不是 GB/T 4754-2017 国民经济行业分类代码",
                               f"'{code}' is not a GB/T 4754-2017 industry code", detail={"industry": code})
        return ind

    def flags_for(self, code: str) -> tuple[str, ...]:
        code = self.get(code).code
        out: list[str] = []
        for prefix, flags in self.prefix_flags.items():
            if code.startswith(prefix):
                out += [f for f in flags if f not in out]
        return tuple(out)

    def search(self, q: str, limit: int = 20) -> list[Industry]:
        q = (q or "").strip()
        if not q:
            return [i for i in self.by_code.values() if i.level == "section"][:limit]
        qn = normalise(q)
        by_code = [i for c, i in self.by_code.items() if c.startswith(qn) or c[1:].startswith(q)]
        by_name = [i for i in self.by_code.values() if q in i.name and i not in by_code]
        ranked = sorted(by_code, key=lambda i: (len(i.code), i.code)) + sorted(
            by_name, key=lambda i: (i.name.index(q), len(i.code), i.code))
        return ranked[:limit]


def normalise(code: str) -> str:
    """`` c2614 `` → ``C2614``."""
    return (code or "").strip().upper()


@lru_cache
def load_industries(layers_dir: Path) -> IndustryTable:
    by_code: dict[str, Industry] = {}
    with open(Path(layers_dir) / "gbt4754-2017.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_code[row["code"]] = Industry(row["code"], row["name"], row["level"], row["parent"] or None)
    numeric = {c[1:]: c for c in by_code if len(c) > 1}
    flags: dict[str, dict[str, str]] = {}
    prefix_flags: dict[str, tuple[str, ...]] = {}
    path = Path(layers_dir) / "industries.yaml"
    if path.exists():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        flags = {k: dict(v) for k, v in (doc.get("flags") or {}).items()}
        for prefix, fl in (doc.get("industries") or {}).items():
            prefix = str(prefix)
            if prefix not in by_code:
                raise ValueError(f"{path}: {prefix} is not a GB/T 4754-2017 code")
            unknown = [f for f in fl if f not in flags]
            if unknown:
                raise ValueError(f"{path}: {prefix} uses undeclared flags {unknown}")
            prefix_flags[prefix] = tuple(fl)
    return IndustryTable(by_code, flags, prefix_flags, numeric)
