"""Benchmark: vector tiles z5–z14 of a province-scale redline layer, EcoRedline next to tipg, same PostGIS.

    python3 -m venv .bench-tipg && .bench-tipg/bin/pip install tipg uvicorn     # the peer, once
    .venv/bin/python scripts/bench_tiles.py --tipg-python .bench-tipg/bin/python [--per-zoom 20]

Both servers read the same tables in the same throwaway cluster (tipg through a view of the current
version's features). EcoRedline runs twice: with its tile cache off (every tile rendered: low zooms
from the zoom-band tables, z12+ from the features) and with the cache on, measured on a second pass
over the same tiles (every tile a hit). tipg has no cache. Prints Markdown for BENCHMARKS.md. Not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.domain.catalog import load_catalog  # noqa: E402
from app.domain.models import Provenance  # noqa: E402
from app.domain.mvt import lonlat_to_tile  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store.embedded import EmbeddedStore  # noqa: E402
from app.store.postgis import PostgisStore  # noqa: E402
from scripts.bench_import import machine  # noqa: E402
from scripts.bench_screening import province_layers  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], health: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(health, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{cmd[0]} did not start")


def sample_tiles(bounds: tuple[float, float, float, float], per_zoom: int, seed: int = 3) -> dict[int, list]:
    rng = np.random.default_rng(seed)
    out = {}
    for z in range(5, 15):
        x0, y1 = lonlat_to_tile(bounds[0], bounds[1], z)
        x1, y0 = lonlat_to_tile(bounds[2], bounds[3], z)
        tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        # where the extent holds fewer tiles than asked (z5, z6), they are drawn again: p95 needs samples
        pick = rng.choice(len(tiles), size=per_zoom, replace=len(tiles) < per_zoom)
        out[z] = [tiles[i] for i in pick]
    return out


def measure(client: httpx.Client, urls: list[str]) -> tuple[list[float], int]:
    ts, size = [], 0
    for u in urls:
        t = time.perf_counter()
        r = client.get(u)
        ts.append(time.perf_counter() - t)
        assert r.status_code in (200, 204), (u, r.status_code)
        size += len(r.content)
    return ts, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-zoom", type=int, default=40)
    ap.add_argument("--redlines", type=int, default=3000)
    ap.add_argument("--tipg-python", default=None, help="python of a venv with tipg and uvicorn installed")
    args = ap.parse_args()
    pgdir = Path(tempfile.mkdtemp(prefix="ecoredline-bench-pg-"))
    url = subprocess.check_output([str(ROOT / "scripts/pgcluster.sh"), "start", str(pgdir)], text=True).strip()
    procs: list[subprocess.Popen] = []
    try:
        store = PostgisStore(url, load_catalog(ROOT / "layers"), Settings(database_url=url))
        data = province_layers(args.redlines, 4)["eco_redline"]
        t0 = time.perf_counter()
        version = store.publish("eco_redline", data, Provenance(source_document="示意数据（非官方边界）"))
        publish_s = time.perf_counter() - t0
        store.close()
        verts = int(shapely.get_num_coordinates(data.geometries).sum())
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE VIEW redline_current AS SELECT fid AS id, attributes->>'name' AS name, geom"
                      f" FROM feature WHERE version_id = '{version.id}'")
            c.execute("VACUUM ANALYZE")
        tiles = sample_tiles(version.bbox, args.per_zoom)
        # the embedded store (the zero-setup default) with the same layer, in its own GeoPackage
        emb_dir = pgdir / "embedded"
        emb_dir.mkdir()
        emb = EmbeddedStore(emb_dir / "ecoredline.gpkg", load_catalog(ROOT / "layers"), Settings(data_dir=emb_dir))
        emb_version = emb.publish("eco_redline", data, Provenance(source_document="示意数据（非官方边界）"))
        emb.close()
        servers = {}
        for label, cache, db in (("EcoRedline PostGIS, uncached (zoom bands ≤ z11, features above)", "false", url),
                                 ("EcoRedline PostGIS, tile cache warm", "true", url),
                                 ("EcoRedline embedded, uncached (bands built on first use)", "false", None)):
            port = free_port()
            env = {**os.environ, "ECOREDLINE_DATA_DIR": str(pgdir / "data") if db else str(emb_dir),
                   "ECOREDLINE_TILE_CACHE": cache}
            env.pop("ECOREDLINE_DATABASE_URL", None)
            if db:
                env["ECOREDLINE_DATABASE_URL"] = db
            procs.append(start([sys.executable, "-m", "uvicorn", "app.api.app:create_app", "--factory", "--port",
                                str(port), "--log-level", "warning"], env, f"http://127.0.0.1:{port}/healthz"))
            servers[label] = (lambda p, v: lambda z, x, y:
                              f"http://127.0.0.1:{p}/tiles/eco_redline/{z}/{x}/{y}.mvt?v={v}")(
                                  port, version.id if db else emb_version.id)
        if args.tipg_python:
            tport = free_port()
            tenv = {**os.environ, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]'}
            procs.append(start([args.tipg_python, "-m", "uvicorn", "tipg.main:app", "--port", str(tport),
                                "--log-level", "warning"], tenv, f"http://127.0.0.1:{tport}/collections"))
            servers["tipg (same PostGIS, view of the same rows)"] = (
                lambda z, x, y: f"http://127.0.0.1:{tport}/collections/public.redline_current/tiles/"
                                f"WebMercatorQuad/{z}/{x}/{y}")
        rows = []
        notes: list[str] = []
        with httpx.Client(timeout=120) as client:
            for name, fn in servers.items():
                measure(client, [fn(5, *tiles[5][0])])  # warm the pool
                if "cache warm" in name:  # fill the cache: the measured pass is all hits
                    for z, zt in tiles.items():
                        measure(client, [fn(z, x, y) for x, y in zt])
                if "embedded" in name:  # one tile per zoom first: builds the in-memory bands
                    first, _ = measure(client, [fn(z, *zt[0]) for z, zt in tiles.items()])
                    notes.append(f"embedded store: first tile of each zoom z5–z14 (builds the bands): "
                                 f"{sum(first):.2f} s in all")
                for z, zt in tiles.items():
                    ts, size = measure(client, [fn(z, x, y) for x, y in zt])
                    ts.sort()
                    rows.append((z, name, ts[len(ts) // 2] * 1000, ts[min(len(ts) - 1, int(len(ts) * 0.95))] * 1000,
                                 len(ts) / sum(ts), size / len(ts) / 1024))
        print("## Vector tiles z5–z14\n")
        print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(f"- machine: {machine()}")
        print(f"- command: `.venv/bin/python scripts/bench_tiles.py --tipg-python .bench-tipg/bin/python "
              f"--per-zoom {args.per_zoom} --redlines {args.redlines}`")
        print(f"- layer: {len(data.geometries):,} redline polygons, {verts:,} vertices (synthetic, 示意数据); "
              f"{args.per_zoom} random tiles per zoom inside the layer's extent (drawn again where it holds fewer), requested one after another")
        print(f"- publish of the layer (features, pieces, zoom bands, one transaction): {publish_s:.2f} s")
        for n in notes:
            print(f"- {n}")
        print()
        print("| z | server | p50 ms | p95 ms | tiles/s | KiB/tile |")
        print("|---:|---|---:|---:|---:|---:|")
        for z, name, p50, p95, rate, kib in sorted(rows):
            print(f"| {z} | {name} | {p50:.1f} | {p95:.1f} | {rate:.1f} | {kib:.1f} |")
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        subprocess.run([str(ROOT / "scripts/pgcluster.sh"), "stop", str(pgdir)], check=False)


if __name__ == "__main__":
    main()
