"""Rule sets as data: ``layers/rules/*.yaml``, one file per jurisdiction level, validated at load.

A rule says which layer features trigger it (kind + attribute filter + intersects / within N m),
which projects it concerns (GB/T 4754-2017 code prefixes, actions, industry flags, project
attribute conditions), what it decides, and where that comes from (document, 文号, clause,
verbatim quote with its seed file or shipped statute text and line). A rule without a citation does not load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Verdict = Literal["prohibited", "restricted", "incomplete", "conditional", "allowed"]
Level = Literal["national", "province", "prefecture", "county"]
Action = Literal["new", "expand", "rebuild", "relocate", "upgrade"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    document: str
    number: str | None = None  # 文号
    clause: str  # 条款 / 章节, as precise as the source allows
    quote: str = Field(min_length=4)
    quote_kind: Literal["verbatim", "paraphrase"] = "verbatim"
    seed: str | None = None  # file name under shared/seeds/ when the quote comes from a seed plan
    source: str | None = None  # file name under layers/sources/ when it comes from a statute text shipped here
    line: int | None = None  # 1-based line of the quote in the seed or source file

    @model_validator(mode="after")
    def _one_place_with_its_line(self) -> Citation:
        if self.seed is not None and self.source is not None:
            raise ValueError("a quote comes from a seed or from a source, not both")
        if ((self.seed or self.source) is None) != (self.line is None):
            raise ValueError("line goes with seed or source")
        if self.quote_kind == "paraphrase" and self.line is not None:
            raise ValueError("a paraphrase names no seed or source line (quote the text verbatim instead)")
        return self


class Condition(_Strict):
    """A project attribute test: ``stack_height_m > 50``, ``voc_emission == true`` …"""

    attribute: str
    op: Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in"] = "=="
    value: Any


class Trigger(_Strict):
    kind: str  # a layer kind of the catalog
    where: dict[str, list[Any]] = Field(default_factory=dict)  # feature attribute -> accepted values
    relation: Literal["intersects", "within"] = "intersects"
    distance_m: float | None = None  # for ``within``

    @model_validator(mode="after")
    def _distance(self) -> Trigger:
        if self.relation == "within" and (self.distance_m is None or self.distance_m <= 0):
            raise ValueError("relation 'within' needs a positive distance_m")
        if self.relation == "intersects" and self.distance_m is not None:
            raise ValueError("distance_m only goes with relation 'within'")
        return self


class AppliesTo(_Strict):
    industries: list[str] = Field(default_factory=list)  # GB/T 4754 code prefixes; empty = every industry
    exclude_industries: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)  # empty = every action
    flags: list[str] = Field(default_factory=list)  # industry flags (any of); see layers/industries.yaml
    conditions: list[Condition] = Field(default_factory=list)  # all must hold

    @field_validator("industries", "exclude_industries")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for code in v:
            rest = code[1:]
            if not code or not ("A" <= code[0] <= "T") or (rest and not rest.isdigit()) or len(rest) > 4:
                raise ValueError(f"'{code}' is not a GB/T 4754 code such as C26 or C2614")
        return v


class Exception_(_Strict):
    """A declared project fact that turns the verdict into another (e.g. 142号 limited activities)."""

    when: Condition
    verdict: Verdict
    evidence_zh: str  # what is still owed (认定意见, 不可避让论证 …)
    evidence_en: str


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    title_zh: str
    title_en: str
    trigger: Trigger | None = None  # None: applies wherever the rule set's jurisdiction applies
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    verdict: Verdict
    exceptions: list[Exception_] = Field(default_factory=list)
    message_zh: str
    message_en: str
    citation: Citation


class RuleSetHeader(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_\-]+$")
    level: Level
    jurisdiction: str = Field(pattern=r"^\d{6}$")  # GB/T 2260; "100000" for national rules
    name_zh: str
    name_en: str


class RuleFile(_Strict):
    ruleset: RuleSetHeader
    rules: list[Rule]


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    ruleset: RuleSetHeader
    file: str


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[LoadedRule, ...]
    version: str  # sha256 over the rule files: the rule-set version kept in every record
    files: tuple[str, ...]



class RuleFileError(ValueError):
    """A rule file is wrong: the service refuses to start, naming the file and line."""


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line an error location points at: YAML's own node positions, followed key by key and index
    by index as far as the location exists (a missing key: its rule's line)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            found = next(((k, v) for k, v in reversed(node.value) if k.value == key), None)  # YAML keeps the last
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_rule_file(path: Path, kinds: set[str] | None = None) -> RuleFile:
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RuleFileError(f"{where}: not valid YAML: {exc}") from None
    try:
        rf = RuleFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = _line_of(text, tuple(first["loc"]))
        where = f"{path}:{line}" if line else str(path)
        raise RuleFileError(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    for i, rule in enumerate(rf.rules):
        if kinds is not None and rule.trigger is not None and rule.trigger.kind not in kinds:
            line = _line_of(text, ("rules", i, "trigger", "kind"))
            raise RuleFileError(f"{path}:{line}: rule {rule.id}: unknown layer kind '{rule.trigger.kind}'")
    return rf


def load_rulebook(rules_dir: Path, kinds: set[str] | None = None) -> RuleBook:
    files = sorted(Path(rules_dir).glob("*.yaml"))
    h = hashlib.sha256()
    loaded: list[LoadedRule] = []
    seen: dict[str, str] = {}
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
        rf = load_rule_file(path, kinds)
        for i, rule in enumerate(rf.rules):
            if rule.id in seen:
                line = _line_of(path.read_text(encoding="utf-8"), ("rules", i))
                raise RuleFileError(f"{path}:{line}: rule id {rule.id} already used in {seen[rule.id]}")
            seen[rule.id] = path.name
            loaded.append(LoadedRule(rule, rf.ruleset, path.name))
    return RuleBook(tuple(loaded), h.hexdigest()[:16], tuple(p.name for p in files))
