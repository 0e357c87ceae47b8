"""Benchmark: import a 1-million-vertex layer into each store, next to ``ogr2ogr`` into the same PostGIS.

    .venv/bin/python scripts/bench_import.py [--vertices 1000000] [--runs 3] [--database-url URL]

Without ``--database-url`` a throwaway cluster is started with ``scripts/pgcluster.sh`` (needs
``postgresql-15-postgis-3``) and removed afterwards. ``ogr2ogr`` comes from Debian's ``gdal-bin``.
Prints a Markdown table for BENCHMARKS.md. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.domain.catalog import load_catalog  # noqa: E402
from app.domain.geometry import from_crs  # noqa: E402
from app.domain.models import Provenance  # noqa: E402
from app.ingest.layers import read_layer_file  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.embedded import EmbeddedStore  # noqa: E402
from app.store.postgis import PostgisStore  # noqa: E402


def make_layer(path: Path, vertices: int, per_polygon: int = 5000, seed: int = 20261122) -> tuple[int, int]:
    """Wiggly redline-like polygons spread over ~300 × 300 km around 乐山, written as a GeoPackage (EPSG:4490)."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    n = max(1, vertices // per_polygon)
    polys = []
    for i in range(n):
        cx, cy = 250_000 + rng.uniform(0, 300_000), 3_150_000 + rng.uniform(0, 300_000)
        r0 = rng.uniform(2_000, 8_000)
        a = np.linspace(0, 2 * np.pi, per_polygon, endpoint=False)
        r = r0 * (1 + 0.25 * np.sin(23 * a + i) * np.cos(7 * a) + rng.normal(0, 0.004, a.size))
        polys.append(shapely.Polygon(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)])))
    geoms = from_crs(np.array(polys, dtype=object), 4544)
    df = gpd.GeoDataFrame({"name": [f"红线片区{i}" for i in range(n)], "HXLX": "水源涵养"}, geometry=geoms, crs=4490)
    df.to_file(path, driver="GPKG", layer="redline")
    return n, int(shapely.get_num_coordinates(geoms).sum())


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} vCPU ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}, Python {platform.python_version()}"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ecoredline-bench-"))
    pgdir = Path(tempfile.mkdtemp(prefix="ecoredline-bench-pg-"))  # directly under /tmp: postgres must reach it
    url = args.database_url
    started = False
    if url is None:
        url = subprocess.check_output([str(ROOT / "scripts/pgcluster.sh"), "start", str(pgdir)], text=True).strip()
        started = True
    try:
        src = work / "redline.gpkg"
        n, verts = make_layer(src, args.vertices)
        size_mb = src.stat().st_size / 2**20
        catalog = load_catalog(ROOT / "layers")
        settings = Settings(database_url=url)
        pg_store = PostgisStore(url, catalog, settings)
        emb_store = EmbeddedStore(work / "store.gpkg", catalog, settings)
        prov = Provenance(source_document="benchmark")
        conninfo = psycopg.conninfo.conninfo_to_dict(url)
        pg_dsn = " ".join(f"{k}={v}" for k, v in conninfo.items())

        def ogr(extra: list[str]) -> None:
            subprocess.run(
                ["ogr2ogr", "-f", "PostgreSQL", f"PG:{pg_dsn}", str(src), "-nln", "bench_ogr", "-overwrite",
                 "-lco", "GEOMETRY_NAME=geom", "-lco", "FID=fid", "-lco", "SPATIAL_INDEX=GIST", *extra],
                check=True, env={**os.environ, "PG_USE_COPY": "YES"},
            )

        def ogr_subdivide() -> None:
            """What a user gets with stock tools for the same result: ogr2ogr, then a piece table in SQL."""
            ogr(["-makevalid"])
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_ogr_piece")
                conn.execute("CREATE TABLE bench_ogr_piece AS SELECT fid, ST_Subdivide(geom, 256) AS geom"
                             " FROM bench_ogr")
                conn.execute("CREATE INDEX ON bench_ogr_piece USING gist (geom)")

        stages: dict[str, list[float]] = {}

        def ours(store) -> None:
            t0 = time.perf_counter()
            data = read_layer_file(src, "eco_redline", catalog)
            t1 = time.perf_counter()
            marks: dict[str, float] = {}
            store.publish("bench", data, prov, progress=lambda s, d, t: marks.setdefault(f"{s}{d}", time.perf_counter()))
            t2 = time.perf_counter()
            stages.setdefault(f"{store.kind}:read+validate", []).append(t1 - t0)
            stages.setdefault(f"{store.kind}:store", []).append(t2 - t1)
            if "subdivide0" in marks and "subdivide1" in marks:
                stages.setdefault(f"{store.kind}:subdivide", []).append(marks["subdivide1"] - marks["subdivide0"])

        runs = {
            "ogr2ogr → PostGIS (COPY, GiST)": lambda: ogr([]),
            "ogr2ogr -makevalid → PostGIS": lambda: ogr(["-makevalid"]),
            "ogr2ogr -makevalid + ST_Subdivide piece table in SQL": ogr_subdivide,
            "EcoRedline → PostGIS (validate, COPY, subdivided pieces, GiST ×2)": lambda: ours(pg_store),
            "EcoRedline → embedded GeoPackage (validate, subdivide, STRtree-ready)": lambda: ours(emb_store),
        }
        results: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.runs):
            for name, fn in runs.items():  # interleaved, so drift hits every contender alike
                results[name].append(timed(fn))
        with psycopg.connect(url) as conn:
            ogr_rows = conn.execute("SELECT count(*), sum(ST_NPoints(geom)) FROM bench_ogr").fetchone()
            our_rows = conn.execute(
                "SELECT count(*), sum(ST_NPoints(f.geom)) FROM feature f JOIN layer l ON l.current_version = f.version_id"
                " WHERE l.id = 'bench'"
            ).fetchone()
            pieces = conn.execute(
                "SELECT count(*) FROM feature_piece p JOIN layer l ON l.current_version = p.version_id"
                " WHERE l.id = 'bench'"
            ).fetchone()[0]
        pg_store.close()
        emb_store.close()

        base = statistics.median(results["ogr2ogr → PostGIS (COPY, GiST)"])
        print(f"## Layer import, {verts:,} vertices ({n} polygons, GeoPackage {size_mb:.1f} MB)\n")
        print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(f"- machine: {machine()}")
        print(f"- command: `.venv/bin/python scripts/bench_import.py --vertices {args.vertices} --runs {args.runs}`")
        ver = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"- ogr2ogr: {ver}; PostGIS cluster from scripts/pgcluster.sh (fsync off, same for all)")
        print(f"- rows loaded: ogr2ogr {ogr_rows[0]} features / {ogr_rows[1]:,} vertices; "
              f"EcoRedline {our_rows[0]} features / {our_rows[1]:,} vertices + {pieces:,} subdivided pieces\n")
        print("| import | median s | min s | max s | × ogr2ogr |")
        print("|---|---:|---:|---:|---:|")
        for name, ts in results.items():
            med = statistics.median(ts)
            print(f"| {name} | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med / base:.2f} |")
        print("\nStages of the EcoRedline runs (median s):\n")
        print("| stage | median s |")
        print("|---|---:|")
        for name, ts in stages.items():
            print(f"| {name} | {statistics.median(ts):.2f} |")
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts/pgcluster.sh"), "stop", str(pgdir)], check=False)
        subprocess.run(["rm", "-rf", str(work), str(pgdir)], check=False)


if __name__ == "__main__":
    main()
