"""Check that every rule quotes its source faithfully.

For each rule file in layers/rules/ (loaded and validated with the app's own schema):
  * every rule has a citation with a document, a clause and a quote (the schema enforces this; a file that
    does not load is reported as an error);
  * a verbatim quote names where it can be checked: ``seed`` + ``line`` (a plan under ``../shared/seeds``)
    or ``source`` + ``line`` (a statute text shipped in ``layers/sources/``), and must occur verbatim in
    that line (1-based, as ``sed -n Np`` prints it);
  * a statute quote's clause names the article (and the paragraph, if it names one) that its line
    belongs to, and the line is statute text, not the file's header;
  * a ``paraphrase`` names no seed, source or line; paraphrases are counted and listed, since a report
    must mark them as not the official wording.

Seeds are looked up in ``<repo>/../shared/seeds`` unless ``--seeds DIR`` is given. When that directory is
absent, quotes against seed lines are not checked (the other checks still run). Statute sources ship with
the rules, so their quotes are always checked.

Usage: python scripts/check_rule_quotes.py [--rules DIR] [--seeds DIR] [--sources DIR] [-v]
Exit status: 0 when everything matches, 1 on any mismatch or invalid file.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.screening.rules import RuleFileError, load_rule_file  # noqa: E402

DEFAULT_SEEDS = ROOT.parent / "shared" / "seeds"
DEFAULT_SOURCES = ROOT / "layers" / "sources"


def _kinds() -> set[str] | None:
    try:
        from app.domain.catalog import load_catalog

        return set(load_catalog(ROOT / "layers").kinds)
    except Exception as exc:  # the catalog is someone else's file: report, do not fail on it
        print(f"note: catalog not loaded ({exc}); layer kinds not checked")
        return None


def _read_lines(path: Path, cache: dict[Path, list[str]]) -> list[str]:
    if path not in cache:
        cache[path] = path.read_text(encoding="utf-8").splitlines()
    return cache[path]


def _quote_problem(path: Path, line: int, quote: str, cache: dict[Path, list[str]]) -> str | None:
    if not path.is_file():
        return f"{path.name} not found in {path.parent}"
    lines = _read_lines(path, cache)
    if not 1 <= line <= len(lines):
        return f"line {line} is outside {path.name} ({len(lines)} lines)"
    if quote in lines[line - 1]:
        return None
    hits = [i + 1 for i, text in enumerate(lines) if quote in text]
    hint = f"; found on line(s) {hits}" if hits else ""
    return f"quote not found verbatim in {path.name} line {line}{hint}: {quote!r}"


_ARTICLE = re.compile(r"第([一二三四五六七八九十百零]+)条 ")  # an article's first line: 第…条, a space, its text
_ITEM = re.compile(r"[(（]([一二三四五六七八九十]+)[)）]")  # an item line: (一) or （一）
_CLAUSE = re.compile(r"第([一二三四五六七八九十百零]+)条(?:第([一二三四五六七八九十]+|\d+)款)?"
                     r"(?:第[(（]?([一二三四五六七八九十]+|\d+)[)）]?项)?")
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _number(zh: str) -> int:
    """A Chinese numeral up to 999 (第一百零三条, 第二十款), or Arabic digits."""
    if zh.isdigit():
        return int(zh)
    total, digit = 0, 0
    for c in zh:
        if c in _DIGITS:
            digit = _DIGITS[c]
        else:  # 十 or 百
            total += (digit or 1) * (10 if c == "十" else 100)
            digit = 0
    return total + digit


def _clause_problem(lines: list[str], line: int, clause: str) -> str | None:
    """A statute quote's clause must name the article its line belongs to, and the paragraph (款) or
    item (项) when it names one. Lines are one paragraph or item each; an article's first line starts
    第…条 and a space; an item line starts with its (一) marker and belongs to the paragraph above it."""
    if lines[line - 1].startswith("#"):
        return f"line {line} is the file's header, not statute text"
    item = _ITEM.match(lines[line - 1])
    paragraph, heading = 0, None
    for text in reversed(lines[:line]):
        if text.startswith("#") or not text.strip():
            break
        if not _ITEM.match(text):
            paragraph += 1
        heading = _ARTICLE.match(text)
        if heading:
            break
    if heading is None:
        return f"line {line} belongs to no article"
    named = _CLAUSE.match(clause)
    if named is None or _number(named.group(1)) != _number(heading.group(1)):
        return f"clause {clause!r} does not name the article of line {line} ({heading.group(0).strip()})"
    if named.group(2) and _number(named.group(2)) != paragraph:
        return f"clause {clause!r} names another paragraph than line {line}'s (第{paragraph}款)"
    if named.group(3) and (item is None or _number(named.group(3)) != _number(item.group(1))):
        return f"clause {clause!r} names another item than line {line}'s"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", type=Path, default=ROOT / "layers" / "rules", help="rule directory")
    ap.add_argument(
        "--seeds", type=Path, default=DEFAULT_SEEDS, help="seed directory (default: ../shared/seeds)"
    )
    ap.add_argument(
        "--sources", type=Path, default=DEFAULT_SOURCES, help="statute texts (default: layers/sources)"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="list every citation checked")
    args = ap.parse_args(argv)

    files = sorted(args.rules.glob("*.yaml"))
    if not files:
        print(f"no rule files in {args.rules}")
        return 1
    seeds_present = args.seeds.is_dir()
    if not seeds_present:
        print(f"seeds directory {args.seeds} not found: quotes against seed lines are not checked")

    kinds = _kinds()
    errors: list[str] = []
    counts: Counter[str] = Counter()
    per_file: dict[str, int] = {}
    paraphrases: list[str] = []
    cache: dict[Path, list[str]] = {}

    for path in files:
        try:
            rf = load_rule_file(path, kinds)
        except RuleFileError as exc:
            errors.append(f"invalid rule file: {exc}")
            continue
        per_file[path.name] = len(rf.rules)
        for rule in rf.rules:
            where = f"{path.name}: {rule.id}"
            c = rule.citation
            counts["rules"] += 1
            if not c.document.strip() or not c.clause.strip() or not c.quote.strip():
                errors.append(f"{where}: citation lacks a document, clause or quote")
                continue
            if c.quote_kind == "paraphrase":
                counts["paraphrase"] += 1
                paraphrases.append(f"{where}: {c.document} {c.clause}")
                continue
            if c.seed is None and c.source is None:
                errors.append(f"{where}: a verbatim quote must name its seed or source line")
                continue
            if len(c.quote) < 10:
                errors.append(f"{where}: quote is shorter than 10 characters: {c.quote!r}")
            if c.seed is not None:
                counts["verbatim_seed"] += 1
                if not seeds_present:
                    continue
                folder, name, tally = args.seeds, c.seed, "verified"
            else:
                counts["verbatim_source"] += 1
                folder, name, tally = args.sources, c.source, "verified_source"
            problem = _quote_problem(folder / name, c.line, c.quote, cache)
            if problem is None and c.source is not None:
                problem = _clause_problem(_read_lines(folder / name, cache), c.line, c.clause)
            if problem:
                errors.append(f"{where}: {problem}")
                continue
            counts[tally] += 1
            if args.verbose:
                print(f"ok  {where}  [{name} L{c.line}]")

    print("rules per file: " + ", ".join(f"{name} {n}" for name, n in per_file.items()))
    print(
        f"{counts['rules']} rules: {counts['verbatim_seed']} quote a seed line "
        f"({counts['verified']} verified{'' if seeds_present else ', seeds absent'}), "
        f"{counts['verbatim_source']} quote a statute line ({counts['verified_source']} verified), "
        f"{counts['paraphrase']} paraphrase"
    )
    if args.verbose and paraphrases:
        print("paraphrases (shown as such in reports):")
        for item in paraphrases:
            print(f"  {item}")
    if errors:
        print(f"{len(errors)} problem(s):")
        for e in errors:
            print(f"  {e}")
        return 1
    print("all citations OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
