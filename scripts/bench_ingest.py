"""Benchmark: reading boundary files — a 10,000-point 界址点 TXT and a ~50 MB zipped shapefile.

    .venv/bin/python scripts/bench_ingest.py [--runs 5]

The shapefile is parsed by ``parse_boundary`` (unzip, encoding, CRS, attributes) and read whole by
``read_boundary`` (that, then validation, repair, union, areas), next to ``pyogrio.read_dataframe`` of
the same unzipped file (what a user's own script would do) and a geopandas script giving read_boundary's
answer.
Prints Markdown for BENCHMARKS.md. Not a test.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.ingest.boundary import BoundaryOptions, parse_boundary, read_boundary  # noqa: E402
from scripts.bench_import import machine  # noqa: E402


def jzd_txt(points: int, parcels: int = 10) -> bytes:
    """A 界址点 TXT with ``parcels`` star-shaped parcels of ``points`` rows in all (zone 35, prefixed)."""
    rng = np.random.default_rng(7)
    per = points // parcels
    lines = ["[属性描述]", "格式版本号=1.01版本", "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格",
             "计量单位=米", "带号=35", "精度=0.001", "转换参数=,,,,,,", "[地块坐标]"]
    for k in range(parcels):
        n = per - 1
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = 300 * (1 + 0.2 * np.sin(7 * a)) + rng.normal(0, 1, n)
        cx, cy = 35_380_000 + 2_000 * k, 3_270_000.0
        xs, ys = cy + r * np.sin(a), cx + r * np.cos(a)
        poly = shapely.Polygon(np.column_stack([ys, xs]))
        lines.append(f"{per},{poly.area / 10_000:.4f},DK{k:02d},地块{k},面,,工业用地,,@")
        for i in range(n):
            lines.append(f"J{i + 1},1,{xs[i]:.3f},{ys[i]:.3f}")
        lines.append(f"J1,1,{xs[0]:.3f},{ys[0]:.3f}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def big_shapefile(folder: Path, target_mb: float) -> Path:
    """Parcels as a GBK shapefile without .cpg, grown until the .shp+.dbf reach ``target_mb``."""
    import geopandas as gpd

    rng = np.random.default_rng(11)
    n = int(target_mb * 1_000_000 / (64 * 16 + 200))  # ~64-vertex polygons
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    cx = 370_000 + rng.uniform(0, 40_000, n)
    cy = 3_250_000 + rng.uniform(0, 40_000, n)
    r = rng.uniform(20, 60, n)[:, None] * (1 + 0.1 * np.sin(5 * a))[None, :]
    rings = np.stack([cx[:, None] + r * np.cos(a), cy[:, None] + r * np.sin(a)], axis=-1)
    geoms = shapely.polygons(rings)
    df = gpd.GeoDataFrame({"名称": [f"宗地{i}" for i in range(n)], "用途": "工业用地"}, geometry=geoms, crs=4544)
    df.to_file(folder / "parcels.shp", encoding="GBK")
    (folder / "parcels.cpg").unlink()
    return folder / "parcels.shp"


def tiled_shapefile(folder: Path, target_mb: float) -> Path:
    """Cadastral parcels as they come: quadrilaterals on a jittered grid that tile the land, each shared
    edge carrying the same 15 wiggled vertices in both neighbours (64 per parcel), GBK without .cpg."""
    import geopandas as gpd

    rng = np.random.default_rng(12)
    side = int(np.sqrt(target_mb * 1_000_000 / (64 * 16 + 200)))
    cell = 30.0
    gx, gy = np.meshgrid(np.arange(side + 1) * cell, np.arange(side + 1) * cell, indexing="ij")
    nodes = np.stack([370_000 + gx + rng.uniform(-6, 6, gx.shape), 3_250_000 + gy + rng.uniform(-6, 6, gy.shape)], -1)
    t = np.linspace(0, 1, 17)[1:-1][None, None, :, None]

    def edge(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # 15 points from a to b, bent sideways
        d = b - a
        normal = np.stack([-d[..., 1], d[..., 0]], -1)[..., None, :]
        bend = rng.uniform(-0.05, 0.05, a.shape[:-1])[..., None, None] * np.sin(np.pi * t)
        return a[..., None, :] + t * d[..., None, :] + bend * normal

    h = edge(nodes[:-1, :], nodes[1:, :])  # (side, side+1, 15, 2): node (i, j) → (i+1, j)
    v = edge(nodes[:, :-1], nodes[:, 1:])  # (side+1, side, 15, 2): node (i, j) → (i, j+1)
    rings = np.concatenate([
        nodes[:-1, :-1, None], h[:, :-1], nodes[1:, :-1, None], v[1:, :], nodes[1:, 1:, None],
        h[:, 1:, ::-1], nodes[:-1, 1:, None], v[:-1, :, ::-1]], axis=2).reshape(side * side, 64, 2)
    geoms = shapely.polygons(rings)
    n = len(geoms)
    df = gpd.GeoDataFrame({"名称": [f"宗地{i}" for i in range(n)], "用途": "工业用地"}, geometry=geoms, crs=4544)
    df.to_file(folder / "parcels.shp", encoding="GBK")
    (folder / "parcels.cpg").unlink()
    return folder / "parcels.shp"


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def by_hand(shp: Path) -> None:
    """The same answer from a user's own geopandas script: read, repair, dissolve (overlaps counted once),
    the parcels' and the footprint's GK areas, the footprint in CGCS2000 lon/lat, its ellipsoidal area."""
    import geopandas as gpd
    import pyogrio

    gdf = pyogrio.read_dataframe(shp, encoding="GB18030")
    parcels = gdf.geometry.make_valid()
    _ = parcels.area
    footprint = gpd.GeoSeries([parcels.union_all()], crs=gdf.crs)
    _ = footprint.area
    _ = footprint.to_crs(4490).to_crs("+proj=laea +lat_0=35 +lon_0=105 +ellps=GRS80 +units=m").area


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--shapefile-mb", type=float, default=50)
    args = ap.parse_args()
    import pyogrio

    rows = []
    txt = jzd_txt(10_000)
    from app.ingest.jzd_txt import parse_jzd_txt

    rows.append(("界址点 TXT, 10,000 points, 10 parcels: parse only (`parse_jzd_txt`)",
                 timed(lambda: parse_jzd_txt(txt), args.runs)))
    rows.append(("界址点 TXT, 10,000 points: full `read_boundary` (parse, CRS, repair, union, areas)",
                 timed(lambda: read_boundary(txt, "jzd.txt"), args.runs)))
    for label, make in (("scattered parcels, some overlapping", big_shapefile),
                        ("tiled cadastral parcels sharing their edges", tiled_shapefile)):
        with tempfile.TemporaryDirectory() as tmp:
            shp = make(Path(tmp), args.shapefile_mb)
            size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
                for p in sorted(Path(tmp).iterdir()):
                    zf.write(p, p.name)
            data = buf.getvalue()
            nfeat = pyogrio.read_info(shp)["features"]
            opts = BoundaryOptions(max_bytes=len(data) + 1, max_parts=10**6, max_vertices=10**8)
            rows.append((f"{label}: pyogrio.read_dataframe of the unzipped shapefile ({nfeat:,} features, "
                         f"{size:.0f} MB)", timed(lambda shp=shp: pyogrio.read_dataframe(shp, encoding="GB18030"), args.runs)))
            rows.append((f"{label}: EcoRedline `parse_boundary` of the same shapefile zipped (unzip, encoding, CRS, "
                         "attributes)", timed(lambda data=data, opts=opts: parse_boundary(data, "parcels.zip", opts),
                                              args.runs)))
            rows.append((f"{label}: EcoRedline `read_boundary` of the same shapefile zipped ({len(data) / 2**20:.0f} MB"
                         " upload)", timed(lambda data=data, opts=opts: read_boundary(data, "parcels.zip", opts), args.runs)))
            rows.append((f"{label}: geopandas by hand (read, `make_valid`, `union_all`, areas, to CGCS2000)",
                         timed(lambda shp=shp: by_hand(shp), args.runs)))
    print("## Boundary ingest\n")
    print(f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine()}")
    print(f"- command: `.venv/bin/python scripts/bench_ingest.py --runs {args.runs}`\n")
    print("| read | median s | min s | max s | × pyogrio |")
    print("|---|---:|---:|---:|---:|")
    base = None
    for name, ts in rows:
        if "pyogrio.read_dataframe" in name:
            base = statistics.median(ts)
        ratio = f"{statistics.median(ts) / base:.2f}" if base and "TXT" not in name else ""
        print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} | {ratio} |")


if __name__ == "__main__":
    main()
