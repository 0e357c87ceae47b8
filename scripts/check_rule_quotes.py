"""Check that every rule quotes its source faithfully.

For each rule file in layers/rules/ (loaded and validated with the app's own schema):
  * every rule has a citation with a document, a clause and a quote (the schema enforces this; a file that
    does not load is reported as an error);
  * a citation with ``seed`` + ``line`` must be ``quote_kind: verbatim`` and its quote must occur verbatim in
    that line (1-based, as ``sed -n Np`` prints it) of ``<seeds>/<seed>``;
  * a citation without a seed is an outside source: it is listed, and a verbatim quote is allowed only from
    outside sources (statutes) — the list in the summary shows which ones rely on that;
  * a ``paraphrase`` never carries a seed or line.

Seeds are looked up in ``<repo>/../shared/seeds`` unless ``--seeds DIR`` is given. When the directory is
absent the quote check is skipped (exit 0) and the other checks still run.

Usage: python scripts/check_rule_quotes.py [--rules DIR] [--seeds DIR] [-v]
Exit status: 0 when everything matches, 1 on any mismatch or invalid file.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.screening.rules import RuleFileError, load_rule_file  # noqa: E402

DEFAULT_SEEDS = ROOT.parent / "shared" / "seeds"


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", type=Path, default=ROOT / "layers" / "rules", help="rule directory")
    ap.add_argument(
        "--seeds", type=Path, default=DEFAULT_SEEDS, help="seed directory (default: ../shared/seeds)"
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
    outside: list[str] = []
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
                if c.seed is not None or c.line is not None:
                    errors.append(
                        f"{where}: a paraphrase must not carry seed/line (quote the seed verbatim instead)"
                    )
                continue
            if c.seed is None:
                counts["verbatim_outside"] += 1
                outside.append(f"{where}: {c.document} {c.clause}")
                continue
            counts["verbatim_seed"] += 1
            if len(c.quote) < 10:
                errors.append(f"{where}: quote is shorter than 10 characters: {c.quote!r}")
            if not seeds_present:
                continue
            seed_path = args.seeds / c.seed
            if not seed_path.is_file():
                errors.append(f"{where}: seed file {c.seed} not found in {args.seeds}")
                continue
            lines = _read_lines(seed_path, cache)
            if not 1 <= c.line <= len(lines):
                errors.append(f"{where}: line {c.line} is outside {c.seed} ({len(lines)} lines)")
                continue
            if c.quote not in lines[c.line - 1]:
                hits = [i + 1 for i, text in enumerate(lines) if c.quote in text]
                hint = f"; found on line(s) {hits}" if hits else ""
                errors.append(
                    f"{where}: quote not found verbatim in {c.seed} line {c.line}{hint}: {c.quote!r}"
                )
                continue
            counts["verified"] += 1
            if args.verbose:
                print(f"ok  {where}  [{c.seed[:3]} L{c.line}]")

    print("rules per file: " + ", ".join(f"{name} {n}" for name, n in per_file.items()))
    print(
        f"{counts['rules']} rules: {counts['verbatim_seed']} quote a seed line "
        f"({counts['verified']} verified{'' if seeds_present else ', seeds absent'}), "
        f"{counts['verbatim_outside']} quote an outside source verbatim, {counts['paraphrase']} paraphrase"
    )
    if args.verbose and outside:
        print("verbatim quotes from outside sources (not checkable here):")
        for item in outside:
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
