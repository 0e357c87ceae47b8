"""Benchmark: one overlay step switched off and on, in one process, on the same index.

    .venv/bin/python scripts/bench_overlay_ab.py [--footprints 200] [--passes 10] [--redlines 3000] [--units 22500]

On this machine a footprint's time can double from one pass to the next, so whole benchmark runs minutes
apart cannot show a 10 % step; this one alternates the two ways pass by pass over the same footprints
(the province-scale set of ``bench_screening.py``, embedded store, overlay only, redline + control
units) and reports the fastest of the passes per footprint and the median pass. Steps:

- ``wholes``: small features met across two or more of their pieces handed out whole (stop 13);
- ``apart``: a layer whose features never meet dissolved by adding areas (stop 12).

Prints Markdown for BENCHMARKS.md. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.domain.catalog import load_catalog  # noqa: E402
from app.domain.footprint import Footprint  # noqa: E402
from app.domain.models import Provenance  # noqa: E402
from app.ingest.boundary import read_geojson_object  # noqa: E402
from app.screening.overlay import overlay  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.embedded import EmbeddedStore  # noqa: E402
from scripts.bench_import import machine  # noqa: E402
from scripts.bench_screening import footprints, pct, province_layers  # noqa: E402

LAYERS = ["eco_redline", "control_unit"]


def switches(store: EmbeddedStore) -> dict[str, tuple[object, str, object, object]]:
    """Per step: (index, attribute, value off, value on)."""
    versions = store.current_versions()
    red = store._index(versions["eco_redline"][1])
    units = store._index(versions["control_unit"][1])
    return {"wholes": (red, "whole_at", np.full(len(red.whole_at), -1), red.whole_at),
            "apart": (units, "apart", False, units.apart)}


def alternate(store: EmbeddedStore, fps: list[Footprint], step: tuple, passes: int) -> dict[bool, list[list[float]]]:
    index, attr, off, on = step
    runs: dict[bool, list[list[float]]] = {False: [], True: []}
    for k in range(passes):
        for flag in ((False, True) if k % 2 == 0 else (True, False)):
            object.__setattr__(index, attr, on if flag else off)
            ts = []
            for fp in fps:
                t = time.perf_counter()
                overlay(store, fp, layers=LAYERS)
                ts.append(time.perf_counter() - t)
            runs[flag].append(ts)
    object.__setattr__(index, attr, on)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--footprints", type=int, default=200)
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--redlines", type=int, default=3000)
    ap.add_argument("--units", type=int, default=22500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecoredline-ab-") as tmp:
        work = Path(tmp)
        store = EmbeddedStore(work / "ecoredline.gpkg", load_catalog(ROOT / "layers"),
                              Settings(data_dir=work, database_url=None))
        try:
            for layer, data in province_layers(args.redlines, args.units).items():
                store.publish(layer, data, Provenance(source_document="示意数据（非官方边界）"))
            fps = [Footprint(f.geometry, f.echo) for f in map(read_geojson_object, footprints(args.footprints))]
            for fp in fps:  # warm: pieces, zone planes, wholes projected
                overlay(store, fp, layers=LAYERS)
            gc.collect()
            gc.freeze()
            steps = switches(store)
            print("## Overlay steps, off and on in one process\n")
            print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            print(f"- machine: {machine()}")
            print(f"- command: `.venv/bin/python scripts/bench_overlay_ab.py --footprints {args.footprints} "
                  f"--passes {args.passes} --redlines {args.redlines} --units {args.units}`")
            print("- embedded store, province-scale set, overlay only (redline + control units); ms\n")
            print("| step | p50 off → on, fastest pass per footprint | p95 off → on | median pass p50 | "
                  "median pass p95 |")
            print("|---|---|---|---|---|")
            for name, step in steps.items():
                runs = alternate(store, fps, step, args.passes)
                best = {f: pct(np.min(np.array(r), axis=0).tolist()) for f, r in runs.items()}
                med = {f: (statistics.median(pct(t)[0] for t in r), statistics.median(pct(t)[1] for t in r))
                       for f, r in runs.items()}
                print(f"| {name} | {best[False][0]:.3f} → {best[True][0]:.3f} | {best[False][1]:.3f} → "
                      f"{best[True][1]:.3f} ({(best[True][1] / best[False][1] - 1) * 100:+.0f} %) | "
                      f"{med[False][0]:.3f} → {med[True][0]:.3f} | {med[False][1]:.3f} → {med[True][1]:.3f} "
                      f"({(med[True][1] / med[False][1] - 1) * 100:+.0f} %) |")
        finally:
            store.close()


if __name__ == "__main__":
    main()
