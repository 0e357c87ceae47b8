"""Illustrative demo layers (示意数据, NOT official boundaries) for every layer kind in the catalog.

The demo lets the service be tried without agency data: a made-up but plausible set of 三线一单
layers around 乐山市市中区, plus a few pieces in 阿坝州 and 甘孜州. Every shape is generated
from fixed seeds (numpy ``default_rng``) and snapped to a 1e-6° grid, so the GeoJSON written is
byte-identical on every run. Shapes are built in a local kilometre frame (so buffers are in metres).
Around 乐山 and for the 行政区, the raw shapes only draw a planar arrangement; every published shape
is a union of its faces, so the layers that must nest or partition an area (行政区, 管控单元,
要素分区, zone rings) do so exactly, without slivers, overlaps or gaps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import substring

DEMO_SOURCE = "示意数据（非官方边界）"
DEMO_AUTHORITY = "EcoRedline 示意数据生成器"
DEMO_NOTE = DEMO_SOURCE

SEED = 20240611
GRID = 1e-6  # degrees (~0.1 m): every coordinate lies on this grid, so rounding to 6 decimals is lossless
ORIGIN = (103.775, 29.575)  # centre of 市中区: the local km frame of the 乐山 shapes

XY = tuple[float, float]
Feature = tuple[BaseGeometry, dict[str, Any]]


@dataclass(frozen=True)
class DemoLayer:
    layer_id: str  # e.g. "eco_redline" (lowercase, [a-z0-9_-])
    kind: str  # a kind id from layers/catalog.yaml
    path: Path  # the GeoJSON file written
    name_zh: str  # e.g. "生态保护红线（示意）"


# ---------------------------------------------------------------------------------------------------------
# randomness, local frames and grid-snapped overlays


def _rng(tag: str) -> np.random.Generator:
    """One generator per shape, so adding a shape never changes the others."""
    return np.random.default_rng([SEED, *tag.encode("utf-8")])


def _scale(lat: float) -> tuple[float, float]:
    """Kilometres per degree of longitude and latitude at ``lat``."""
    return 111.320 * math.cos(math.radians(lat)), 110.574


def _to_km(geom: BaseGeometry, origin: XY) -> BaseGeometry:
    k, o = np.array(_scale(origin[1])), np.array(origin)
    return shapely.transform(geom, lambda xy: (xy - o) * k)


def _from_km(geom: BaseGeometry, origin: XY) -> BaseGeometry:
    k, o = np.array(_scale(origin[1])), np.array(origin)
    return shapely.transform(geom, lambda xy: xy / k + o)


def _snap(geom: BaseGeometry) -> BaseGeometry:
    """Put a geometry on the output grid (and keep it valid) so every later overlay is exact."""
    return shapely.set_precision(geom, GRID)


def _inter(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return shapely.intersection(a, b, grid_size=GRID)


def _diff(a: BaseGeometry, *others: BaseGeometry) -> BaseGeometry:
    for b in others:
        a = shapely.difference(a, b, grid_size=GRID)
    return a


def _union(*geoms: BaseGeometry) -> BaseGeometry:
    return shapely.union_all(list(geoms), grid_size=GRID)


def _buffer_m(geom: BaseGeometry, metres: float, origin: XY = ORIGIN) -> BaseGeometry:
    """Buffer by a distance in metres (lon/lat buffers would be squashed east-west)."""
    return _snap(_from_km(shapely.buffer(_to_km(geom, origin), metres / 1000.0, quad_segs=6), origin))


# ---------------------------------------------------------------------------------------------------------
# organic shapes


def _noise(rng: np.random.Generator, s: np.ndarray, length: float, kmin: int, kmax: int) -> np.ndarray:
    """Smooth wiggle in [-1, 1] along arc length ``s``: sines of whole periods, so closed rings stay closed."""
    k = np.arange(kmin, kmax + 1)
    amp = rng.uniform(0.5, 1.0, k.size) / k
    phase = rng.uniform(0.0, 2 * np.pi, k.size)
    w = (amp[:, None] * np.sin(2 * np.pi * k[:, None] * s[None, :] / length + phase[:, None])).sum(axis=0)
    return w / np.abs(w).max()


def _normals(xy: np.ndarray, closed: bool) -> np.ndarray:
    t = (np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)) if closed else np.gradient(xy, axis=0)
    t /= np.linalg.norm(t, axis=1)[:, None]
    return np.column_stack([-t[:, 1], t[:, 0]])


def _blob(tag: str, centre: XY, rx_km: float, ry_km: float | None = None, *, n: int = 120,
          rough: float = 0.12, p: float = 2.0, rot_deg: float = 0.0) -> Polygon:
    """A wiggly radius polygon: star-shaped around ``centre`` and hence always simple.

    ``p`` > 2 makes a squarer superellipse (for districts that must fill a box), ``rough`` the wobble.
    """
    rng = _rng(tag)
    ry_km = rx_km if ry_km is None else ry_km
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = (np.abs(np.cos(t)) ** p + np.abs(np.sin(t)) ** p) ** (-1.0 / p)
    k = np.arange(2, 9)
    wobble = (rng.uniform(0.3, 1.0, k.size)[:, None] / k[:, None] ** 0.8
              * np.cos(k[:, None] * t + rng.uniform(0, 2 * np.pi, k.size)[:, None])).sum(axis=0)
    jitter = np.convolve(rng.standard_normal(n + 4), np.ones(5) / 5, mode="valid")
    r = r * np.clip(1.0 + rough * (0.6 * wobble + 0.25 * jitter), 0.4, None)
    a = math.radians(rot_deg)
    x, y = rx_km * r * np.cos(t), ry_km * r * np.sin(t)
    xy = np.column_stack([x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)])
    return _snap(_from_km(Polygon(xy), centre))


def _nested(tag: str, centre: XY, sizes_km: Sequence[tuple[float, float]], *, rough: float = 0.15,
            gap_m: float = 400.0) -> list[BaseGeometry]:
    """Concentric blobs, each strictly containing the previous one (zones that nest: 核心区 ⊂ 缓冲区 …)."""
    out: list[BaseGeometry] = []
    for i, (rx, ry) in enumerate(sizes_km):
        shape = _blob(f"{tag}/{i}", centre, rx, ry, n=160, rough=rough)
        out.append(_union(shape, _buffer_m(out[-1], gap_m, centre)) if out else shape)
    return out


def _rings(nested: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    """Nested shapes as non-overlapping rings: the core, then each bigger shape minus the smaller."""
    return [nested[0], *(_diff(big, small) for small, big in zip(nested, nested[1:]))]


def _outline(tag: str, vertices: Sequence[XY], *, n: int, amp_km: float) -> Polygon:
    """A hand-drawn outline densified and given a mild periodic wiggle (admin regions)."""
    rng = _rng(tag)
    origin = (float(np.mean([v[0] for v in vertices])), float(np.mean([v[1] for v in vertices])))
    ring = _to_km(LineString([*vertices, vertices[0]]), origin)
    s = np.linspace(0.0, ring.length, n, endpoint=False)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(ring, s))
    xy = xy + _normals(xy, closed=True) * (amp_km * _noise(rng, s, ring.length, 6, 40))[:, None]
    poly = Polygon(xy)
    if not poly.is_valid:  # a wiggle folded over a sharp corner: keep the main body
        poly = max(shapely.get_parts(shapely.make_valid(poly)), key=lambda g: g.area)
    return _snap(_from_km(poly, origin))


def _wiggly_line(tag: str, waypoints: Sequence[XY], *, n: int = 120, amp_km: float = 0.25,
                 origin: XY = ORIGIN) -> LineString:
    """A meandering line through ``waypoints`` whose two ends stay exactly where given (confluences)."""
    rng = _rng(tag)
    base = _to_km(LineString(waypoints), origin)
    s = np.linspace(0.0, base.length, n)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(base, s))
    offset = amp_km * np.sin(np.pi * s / base.length) * _noise(rng, s, base.length, 3, 14)
    coords = shapely.get_coordinates(_from_km(LineString(xy + _normals(xy, closed=False) * offset[:, None]),
                                              origin))
    coords[0], coords[-1] = waypoints[0], waypoints[-1]
    return _snap(LineString(coords))


def _stretch(line: LineString, near: XY, before_km: float, after_km: float) -> LineString:
    """The part of ``line`` from ``before_km`` upstream to ``after_km`` downstream of the point nearest ``near``."""
    km = _to_km(line, ORIGIN)
    d = km.project(_to_km(Point(near), ORIGIN))
    return _from_km(substring(km, max(d - before_km, 0.0), min(d + after_km, km.length)), ORIGIN)


def _split_at(line: LineString, near: XY) -> tuple[LineString, LineString]:
    km = _to_km(line, ORIGIN)
    d = km.project(_to_km(Point(near), ORIGIN))
    return (_from_km(substring(km, 0.0, d), ORIGIN), _from_km(substring(km, d, km.length), ORIGIN))


# ---------------------------------------------------------------------------------------------------------
# the scene: shapes shared by several layers

# west and north of 四川 the province's edge is 甘孜's and 阿坝's: those vertices lie inside them on purpose
SICHUAN = [(99.5, 32.0), (101.8, 32.9), (103.3, 33.2), (104.2, 32.95), (105.3, 32.9), (106.2, 32.7), (107.0, 32.4),
           (108.0, 32.2), (108.55, 31.8), (108.3, 31.2), (107.6, 30.6), (107.0, 30.2), (106.0, 29.6), (105.6, 29.1),
           (106.2, 28.6), (106.2, 28.0), (105.3, 27.7), (104.4, 28.1), (103.5, 28.2), (103.3, 27.5), (102.9, 26.5),
           (102.1, 26.05), (101.4, 26.1), (100.9, 26.9), (100.1, 27.5), (100.6, 28.6), (100.0, 30.5)]
ABA = [(100.7, 33.2), (101.2, 33.9), (101.9, 34.2), (102.6, 34.15), (103.2, 33.8), (103.9, 33.55),
       (104.5, 33.1), (104.2, 32.6), (103.9, 32.0), (103.85, 31.5), (103.6, 31.05), (103.45, 30.75),
       (103.0, 30.62), (102.5, 30.6), (102.2, 30.9), (101.8, 31.3), (101.6, 31.8), (101.1, 32.0),
       (100.5, 32.4), (100.55, 32.9)]
GANZI = [(97.4, 33.3), (97.45, 33.8), (98.2, 34.3), (99.3, 33.95), (100.2, 33.6), (100.7, 33.2),
         (101.4, 32.4), (101.9, 31.6), (102.3, 30.9), (102.5, 30.3), (102.4, 29.6), (102.3, 29.0),
         (101.9, 28.5), (101.4, 28.2), (101.0, 27.95), (100.3, 27.9), (99.6, 28.1), (99.2, 28.4),
         (98.9, 29.0), (98.7, 29.8), (99.0, 30.5), (98.9, 31.3), (98.6, 32.0), (98.2, 32.6), (97.6, 33.0)]
LESHAN = [(103.25, 29.75), (103.45, 29.85), (103.65, 29.95), (103.85, 29.87), (104.05, 29.75),
          (104.1, 29.5), (103.98, 29.22), (104.0, 28.95), (103.8, 28.8), (103.6, 28.6), (103.3, 28.7),
          (103.1, 28.95), (102.9, 29.2), (103.0, 29.45), (103.1, 29.62)]

CONFLUENCE = (103.765, 29.56)  # 岷江 meets 青衣江/大渡河
MINJIANG_UP = [(103.72, 29.80), (103.727, 29.74), (103.732, 29.68), (103.745, 29.625), (103.758, 29.585),
               CONFLUENCE]
MINJIANG_DOWN = [CONFLUENCE, (103.762, 29.53), (103.79, 29.47), (103.85, 29.40)]
QINGYI = [(103.55, 29.66), (103.62, 29.635), (103.69, 29.595), (103.735, 29.572), CONFLUENCE]
DADU = [(103.55, 29.50), (103.62, 29.512), (103.685, 29.532), (103.735, 29.55), CONFLUENCE]
HUANGHE = [(102.62, 33.40), (102.48, 33.45), (102.43, 33.60), (102.50, 33.75), (102.45, 33.90)]
INTAKE = (103.732, 29.68)  # drinking-water intake on the 岷江 above the city
BUDDHA = (103.775, 29.545)
ZOIGE = (102.9, 33.6)
GONGGA = (101.9, 29.6)
PANDA = (103.2, 31.0)
# one point inside each part of 市中区 the three rivers cut it into
SECTOR_PROBES = {"east": (103.86, 29.60), "northwest": (103.68, 29.69), "between": (103.64, 29.57),
                 "south": (103.70, 29.45)}


class _Faces:
    """A planar arrangement of many shapes' boundaries (and the rivers), snapped to the grid.

    Shapes that must fit together (行政区 nesting, the 管控单元 and 要素分区 partitions, zone rings) are
    published as unions of its faces, so neighbours share their edges exactly: separate overlays would
    leave slivers, overlaps and gaps at the grid's scale.
    """

    def __init__(self, polygons: Sequence[BaseGeometry], lines: Sequence[BaseGeometry] = ()) -> None:
        net = shapely.union_all([*(shapely.boundary(g) for g in polygons), *lines], grid_size=GRID)
        self.faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(net)))
        self.points = shapely.point_on_surface(self.faces)

    def inside(self, geom: BaseGeometry) -> np.ndarray:
        """Which faces lie inside ``geom`` (a face never straddles a boundary in the arrangement)."""
        shapely.prepare(geom)
        return shapely.contains(geom, self.points)

    def shape(self, mask: np.ndarray) -> BaseGeometry:
        return shapely.coverage_union_all(self.faces[mask]) if mask.any() else Polygon()


def _carve(whole: np.ndarray, pieces: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Cut a face set into consecutive parts: each piece takes what is left of it, ``None`` all the rest."""
    left, out = whole.copy(), []
    for piece in pieces:
        part = left.copy() if piece is None else left & piece
        out.append(part)
        left &= ~part
    return out


@dataclass(frozen=True)
class _Scene:
    """What several layers share: the 乐山/admin arrangement with named face sets, the rivers, western zones."""

    faces: _Faces
    sets: dict[str, np.ndarray]  # "in/<raw shape>" for each raw shape, plus the derived sets of _face_sets
    rivers: dict[str, LineString]
    west: dict[str, list[BaseGeometry]]  # zone rings in 阿坝/甘孜, core first

    def shape(self, *names: str) -> BaseGeometry:
        return self.faces.shape(np.logical_or.reduce([self.sets[n] for n in names]))


def _rivers() -> dict[str, LineString]:
    up = _wiggly_line("岷江上", MINJIANG_UP, n=100, amp_km=0.25)
    down = _wiggly_line("岷江下", MINJIANG_DOWN, n=90, amp_km=0.3)
    return {"岷江": LineString([*up.coords, *list(down.coords)[1:]]),
            "青衣江": _wiggly_line("青衣江", QINGYI, n=120, amp_km=0.35),
            "大渡河": _wiggly_line("大渡河", DADU, n=120, amp_km=0.35),
            "黄河": _wiggly_line("黄河", HUANGHE, n=150, amp_km=2.5, origin=(102.5, 33.65))}


def _sectors(district: BaseGeometry, lines: Sequence[LineString]) -> dict[str, BaseGeometry]:
    """Cut the district along the rivers; small faces (a meander leaving and re-entering) join a neighbour."""
    faces = [f for f in _Faces([district], lines).faces if district.contains(f.representative_point())]
    label: dict[int, str] = {}
    for i, face in enumerate(faces):
        for name, probe in SECTOR_PROBES.items():
            if face.contains(Point(probe)):
                label[i] = name
    for _ in range(len(faces)):
        if len(label) == len(faces):
            break
        for i, face in enumerate(faces):
            if i in label:
                continue
            shared = [(shapely.length(_inter(face.boundary, faces[j].boundary)), j) for j in label]
            length, j = max(shared, default=(0.0, -1))
            if length > 0:
                label[i] = label[j]
    if len(label) < len(faces) or set(label.values()) != set(SECTOR_PROBES):
        raise ValueError("demo: the rivers do not cut 市中区 into the expected sectors")
    return {name: _union(*(f for i, f in enumerate(faces) if label[i] == name)) for name in SECTOR_PROBES}


def _raw_shapes(rivers: dict[str, LineString]) -> dict[str, BaseGeometry]:
    """The shapes whose boundaries make the arrangement; layers combine their face sets, never these."""
    minjiang = rivers["岷江"]
    upper, lower = _split_at(minjiang, CONFLUENCE)
    source, city_reach = _split_at(upper, (103.745, 29.625))
    one = _buffer_m(_stretch(minjiang, INTAKE, 1.5, 0.5), 150)
    two = _union(_buffer_m(_stretch(minjiang, INTAKE, 4.5, 0.8), 800), one)
    urban = _blob("中心城区", (103.772, 29.585), 2.9, 4.4, n=200, rough=0.14)
    jiazhou = _blob("嘉州工业园", (103.83, 29.625), 2.9, 2.7, n=160, p=2.5, rough=0.1)
    road = _wiggly_line("嘉州大道", [(103.745, 29.55), (103.78, 29.59), (103.83, 29.63), (103.87, 29.655)],
                        n=80, amp_km=0.15)
    scenic = _nested("乐山大佛风景名胜区", BUDDHA, [(1.0, 1.2), (2.2, 2.6)], rough=0.12, gap_m=150)
    return {
        "district": _blob("市中区", ORIGIN, 16.5, 19.0, n=260, rough=0.11, p=3.0),
        "leshan": _outline("乐山市", LESHAN, n=300, amp_km=1.5),
        "aba": _outline("阿坝州", ABA, n=360, amp_km=4.0),
        "ganzi": _outline("甘孜州", GANZI, n=400, amp_km=4.0),
        "sichuan": _outline("四川省", SICHUAN, n=600, amp_km=6.0),
        "redline/1": _blob("红线/市中区/1", (103.635, 29.485), 2.0, 1.7, n=140, rot_deg=20),
        "redline/2": _blob("红线/市中区/2", (103.69, 29.458), 1.7, 1.4, n=120, rot_deg=-15),
        "scenic/core": scenic[0], "scenic/outer": scenic[1],
        "ws/1": one, "ws/2": two,  # 一级 ⊂ 二级 ⊂ 准保护区 along the 岷江 above the intake
        "ws/quasi": _union(_buffer_m(_stretch(minjiang, INTAKE, 9.0, 1.2), 1500), two),
        "urban": urban, "jiazhou": jiazhou,
        "emitters": _buffer_m(_union(urban, jiazhou), 800),
        "road": _buffer_m(road, 60), "quiet": _blob("城北文教区", (103.765, 29.60), 1.0, 0.9, n=100),
        "corridor/source": _buffer_m(source, 300), "corridor/city": _buffer_m(city_reach, 300),
        "corridor/qingyi": _buffer_m(rivers["青衣江"], 300), "corridor/dadu": _buffer_m(rivers["大渡河"], 300),
        "corridor/lower": _buffer_m(lower, 300),
        "fz/urban": _blob("主体功能/五通桥", (103.82, 29.40), 9.0, 7.0, n=160),
        "fz/agri": _blob("主体功能/农产品", (103.95, 29.30), 14, 22, n=200),
        "fz/eco": _blob("主体功能/生态", (103.30, 28.95), 30, 28, n=240),
    }


def _face_sets(faces: _Faces, raw: dict[str, BaseGeometry], sectors: dict[str, BaseGeometry]
               ) -> dict[str, np.ndarray]:
    """Named face sets: 市中区 ⊂ 乐山 ⊂ 四川, 阿坝/甘孜 ⊂ 四川 and 阿坝, 甘孜, 乐山 disjoint by construction."""
    s = {f"in/{k}": faces.inside(g) for k, g in raw.items()}
    d = s["district"] = s["in/district"]
    s["leshan"] = s["in/leshan"] | d
    s["aba"] = s["in/aba"] & ~s["leshan"]
    s["ganzi"] = s["in/ganzi"] & ~s["aba"] & ~s["leshan"]
    s["sichuan"] = s["in/sichuan"] | s["aba"] | s["ganzi"] | s["leshan"]
    s["redline/1"], s["redline/2"] = _carve(d, [s["in/redline/1"], s["in/redline/2"]])
    s["scenic/core"], s["scenic/general"] = _carve(d, [s["in/scenic/core"], s["in/scenic/outer"]])
    s["ws/1"], s["ws/2"], s["ws/quasi"] = _carve(d, [s["in/ws/1"], s["in/ws/2"], s["in/ws/quasi"]])
    s["redline"] = s["redline/1"] | s["redline/2"]
    s["scenic"] = s["scenic/core"] | s["scenic/general"]
    s["ws"] = s["ws/1"] | s["ws/2"] | s["ws/quasi"]
    s["urban"] = s["in/urban"] & d & ~(s["redline"] | s["scenic"] | s["ws"])
    s["jiazhou"] = s["in/jiazhou"] & d
    s["city"] = s["urban"] | s["jiazhou"]
    s["fz/urbanised"] = d | s["in/fz/urban"]
    for name, sector in sectors.items():
        s[f"sector/{name}"] = faces.inside(sector) & d
    return s


def _scene() -> _Scene:
    rivers = _rivers()
    raw = _raw_shapes(rivers)
    faces = _Faces(list(raw.values()), [rivers["岷江"], rivers["青衣江"], rivers["大渡河"]])
    sectors = _sectors(raw["district"], [rivers["岷江"], rivers["青衣江"], rivers["大渡河"]])
    sets = _face_sets(faces, raw, sectors)
    aba, ganzi = faces.shape(sets["aba"]), faces.shape(sets["ganzi"])
    west = {
        "gongga": (ganzi, _nested("贡嘎山", GONGGA, [(9, 11), (15, 18), (23, 27)])),
        "zoige": (aba, _nested("若尔盖湿地", ZOIGE, [(12, 9), (22, 16)])),
        "wetland": (aba, _nested("若尔盖湿地公园", (102.75, 33.45), [(3, 2.5), (7, 5)])),
        "panda": (aba, _nested("大熊猫国家公园", PANDA, [(14, 12), (26, 22)])),
    }
    return _Scene(faces=faces, sets=sets, rivers=rivers,
                  west={k: [_inter(g, region) for g in _rings(nested)] for k, (region, nested) in west.items()})


# ---------------------------------------------------------------------------------------------------------
# layers, one builder per catalog kind


def _name(text: str) -> str:
    return f"{text}（示意）"


def _eco_redline(s: _Scene) -> list[Feature]:
    emei = _inter(_blob("红线/峨眉山", (103.35, 29.55), 7.0, 5.0, n=200, rot_deg=35), s.shape("leshan"))
    zoige = _inter(_blob("红线/若尔盖", (102.8, 33.4), 25, 18, n=240, rot_deg=-20), s.shape("aba"))
    gongga = _inter(_blob("红线/贡嘎山", GONGGA, 28, 34, n=240, rot_deg=10), s.shape("ganzi"))
    rows = [(s.shape("redline/1"), "市中区西南部丘陵水土保持生态保护红线", "HX5111020001", "水土保持"),
            (s.shape("redline/2"), "市中区大渡河南岸生物多样性维护生态保护红线", "HX5111020002", "生物多样性维护"),
            (emei, "峨眉山生物多样性维护生态保护红线", "HX5111810001", "生物多样性维护"),
            (zoige, "若尔盖草原湿地水源涵养生态保护红线", "HX5132320001", "水源涵养"),
            (gongga, "贡嘎山生物多样性维护生态保护红线", "HX5133010001", "生物多样性维护")]
    return [(g, {"name": _name(n), "code": c, "redline_type": t}) for g, n, c, t in rows]


def _national_park(s: _Scene) -> list[Feature]:
    return [(g, {"name": _name("大熊猫国家公园"), "zone": z}) for g, z in zip(s.west["panda"], ("core", "general"))]


def _nature_reserve(s: _Scene) -> list[Feature]:
    gongga = [(g, {"name": _name("贡嘎山自然保护区"), "level": "national", "zone": z})
              for g, z in zip(s.west["gongga"], ("core", "buffer", "experimental"))]
    zoige = [(g, {"name": _name("若尔盖湿地自然保护区"), "level": "national", "zone": z})
             for g, z in zip(s.west["zoige"], ("core", "general"))]
    return gongga + zoige


def _scenic_area(s: _Scene) -> list[Feature]:
    return [(s.shape(f"scenic/{part}"), {"name": _name("乐山大佛风景名胜区"), "level": "national", "zone": z})
            for part, z in (("core", "核心景区"), ("general", "一般景区"))]


def _forest(s: _Scene) -> BaseGeometry:
    """The forest park keeps clear of the water-source zones (farmland keeps clear of it in turn)."""
    return _diff(_blob("森林公园", (103.70, 29.62), 1.6, 1.3, n=120, rot_deg=30), s.shape("ws"))


def _forest_park(s: _Scene) -> list[Feature]:
    return [(_forest(s), {"name": _name("乐山平羌森林公园"), "level": "municipal", "zone": "核心景观区"})]


def _wetland_park(s: _Scene) -> list[Feature]:
    return [(g, {"name": _name("若尔盖湿地公园"), "level": "national", "zone": z})
            for g, z in zip(s.west["wetland"], ("保育区", "合理利用区"))]


def _geopark(s: _Scene) -> list[Feature]:
    g = _inter(_blob("黄龙地质公园", (103.82, 32.74), 6.0, 8.0, n=160, rot_deg=15), s.shape("aba"))
    return [(g, {"name": _name("黄龙地质公园"), "level": "national", "zone": "地质遗迹保护区"})]


def _world_heritage(s: _Scene) -> list[Feature]:
    buddha = _inter(_blob("世界遗产/乐山大佛", BUDDHA, 1.5, 1.8, n=120), s.shape("scenic"))
    emei = _inter(_blob("世界遗产/峨眉山", (103.33, 29.53), 8.0, 6.0, n=200, rot_deg=30), s.shape("leshan"))
    return [(_union(buddha, emei), {"name": _name("峨眉山-乐山大佛")})]


def _water_source_zones(s: _Scene) -> list[Feature]:
    return [(s.shape(f"ws/{grade}"), {"name": _name("岷江乐山城区饮用水水源保护区"), "grade": grade,
                                     "scale": "地市级"}) for grade in ("1", "2", "quasi")]


_TEXTS = {
    "redline": ("禁止开发性、生产性建设活动，仅允许对生态功能不造成破坏的有限人为活动（示意）",
                "禁止新设排污口，现有排污口限期整治（示意）",
                "禁止新建涉及有毒有害物质的项目，加强生态破坏问题排查（示意）",
                "严格控制土地开发，维持生态用地面积不减少（示意）"),
    "scenic": ("禁止建设与风景名胜资源保护无关的建筑物，严格控制景区开发强度（示意）",
               "景区污水全收集全处理，禁止向水体直排（示意）",
               "加强游客高峰期及汛期环境风险防范（示意）",
               "控制景区游客容量与用水总量（示意）"),
    "water": ("一级保护区内禁止新建、改建、扩建与供水设施和保护水源无关的建设项目（示意）",
              "二级保护区内禁止新建、改建、扩建排放污染物的建设项目（示意）",
              "禁止危险化学品运输车辆穿越，设置应急拦截设施（示意）",
              "保障取水河段生态流量（示意）"),
    "urban": ("禁止新建、扩建化工项目；推动城区重污染企业搬迁入园（示意）",
              "城镇污水全收集全处理，新建项目实行主要污染物排放总量削减替代（示意）",
              "加强危险化学品运输与储存风险管控（示意）",
              "提高再生水利用率，推进节水型城市建设（示意）"),
    "park": ("园区限制引入化工、电镀等重污染项目，新建项目须符合园区规划环评（示意）",
             "园区污水集中处理，执行特别排放限值（示意）",
             "建立园区环境风险应急体系，设置有毒有害气体监测预警（示意）",
             "单位工业增加值能耗、水耗达到国内先进水平（示意）"),
    "general": ("执行区域生态环境准入要求，合理控制开发强度（示意）",
                "加强农业面源污染治理，畜禽养殖废弃物资源化利用（示意）",
                "加强农用地土壤环境风险管控（示意）",
                "推广高效节水灌溉，提高水资源利用效率（示意）"),
}
_CATEGORY_DIGIT = {"priority": "1", "key": "2", "general": "3"}


def _unit(geom: BaseGeometry, admin_code: str, seq: int, category: str, name: str, texts: str) -> Feature:
    spatial, pollutant, risk, resource = _TEXTS[texts]
    return (geom, {"code": f"ZH{admin_code}{_CATEGORY_DIGIT[category]}{seq:04d}", "name": _name(name),
                   "category": category, "spatial_layout": spatial, "pollutant_discharge": pollutant,
                   "risk_prevention": risk, "resource_efficiency": resource, "admin_code": admin_code})


def _control_unit(s: _Scene) -> list[Feature]:
    """市中区 cut into a partition: priority first, then key, the rest by river sector; plus a few western units."""
    rows = [
        ("redline", 1, "priority", "市中区生态保护红线优先保护单元", "redline"),
        ("scenic", 2, "priority", "乐山大佛风景名胜区优先保护单元", "scenic"),
        ("ws", 3, "priority", "岷江饮用水水源保护区优先保护单元", "water"),
        ("urban", 1, "key", "市中区中心城区重点管控单元", "urban"),
        ("jiazhou", 2, "key", "嘉州工业园重点管控单元", "park"),
        ("sector/east", 1, "general", "市中区岷江东岸一般管控单元", "general"),
        ("sector/northwest", 2, "general", "市中区岷江西岸一般管控单元", "general"),
        ("sector/between", 3, "general", "市中区青衣江大渡河之间一般管控单元", "general"),
        (None, 4, "general", "市中区大渡河南岸一般管控单元", "general"),
    ]
    parts = _carve(s.sets["district"], [s.sets[r[0]] if r[0] else None for r in rows])
    units = [_unit(s.faces.shape(m), "511102", seq, cat, name, texts)
             for m, (_, seq, cat, name, texts) in zip(parts, rows)]
    west = s.west
    zoige = _union(*west["zoige"], *west["wetland"])
    zoige_county = _diff(_inter(_blob("若尔盖县", (102.8, 33.55), 60, 50, n=240), s.shape("aba")), zoige)
    gongga = _union(*west["gongga"])
    kangding = _diff(_inter(_blob("康定城区", (101.96, 30.05), 3.0, 2.0, n=100), s.shape("ganzi")), gongga)
    units += [_unit(zoige, "513232", 1, "priority", "若尔盖湿地优先保护单元", "redline"),
              _unit(zoige_county, "513232", 1, "general", "若尔盖县一般管控单元", "general"),
              _unit(gongga, "513301", 1, "priority", "贡嘎山优先保护单元", "redline"),
              _unit(kangding, "513301", 1, "key", "康定城区重点管控单元", "urban")]
    return units


def _zones(s: _Scene, whole: str, rows: Sequence[tuple[str | None, dict[str, Any]]]) -> list[Feature]:
    """A partition of the face set ``whole``: each row's face set takes what the rows before it left."""
    parts = _carve(s.sets[whole], [s.sets[key] if key else None for key, _ in rows])
    return [(s.faces.shape(m), props) for m, (_, props) in zip(parts, rows)]


def _element_zone(s: _Scene) -> list[Feature]:
    """Water zones partition 市中区 by river sector; air zones partition it around the city and the park."""
    def zone(element: str, digit: int, seq: int, name: str, category: str, ok: bool, target: str
             ) -> dict[str, Any]:
        return {"element": element, "code": f"YS511102{digit}{seq:04d}", "name": _name(name),
                "category": category, "attainment": ok, "target_class": target}

    water = _zones(s, "district", [
        ("sector/northwest", zone("water", 1, 1, "岷江饮用水水源水环境优先保护区", "priority", True, "II")),
        ("sector/east", zone("water", 1, 2, "岷江乐山城区段水环境城镇生活污染重点管控区", "key", True, "III")),
        ("sector/between", zone("water", 1, 3, "青衣江市中区段水环境一般管控区", "general", True, "II")),
        (None, zone("water", 1, 4, "大渡河市中区段水环境工业污染重点管控区", "key", False, "III"))])
    air = _zones(s, "district", [
        ("scenic", zone("air", 2, 1, "乐山大佛景区大气环境优先保护区", "priority", True, "一级")),
        ("in/emitters", zone("air", 2, 2, "市中区大气环境高排放重点管控区", "key", False, "二级")),
        (None, zone("air", 2, 3, "市中区大气环境一般管控区", "general", True, "二级"))])
    return water + air


def _resource_zone(s: _Scene) -> list[Feature]:
    """Water-resource ceiling zones: the 大渡河 side is shown as over its cap (示意), the rest within it."""
    def zone(seq: int, name: str, over: bool, cap: str) -> dict[str, Any]:
        return {"resource": "water", "code": f"ZY511102{seq:04d}", "name": _name(name), "over_cap": over,
                "cap": cap}

    return _zones(s, "district", [
        ("sector/east", zone(1, "市中区城区水资源一般管控区", False, "用水总量控制在上线以内")),
        ("sector/northwest", zone(2, "岷江上游水资源优先保护区", False, "用水总量控制在上线以内")),
        (None, zone(3, "大渡河沿岸水资源超载区", True, "用水总量已达上线")),
    ])


def _basic_farmland(s: _Scene) -> list[Feature]:
    """Small patches on open land: away from the centre, the city, the park, the rivers and protected land."""
    rivers = _buffer_m(_union(s.rivers["岷江"], s.rivers["青衣江"], s.rivers["大渡河"]), 400)
    busy = _buffer_m(s.shape("urban", "jiazhou"), 1000)
    allowed = _diff(s.shape("district"), _buffer_m(Point(ORIGIN), 5000), busy, rivers,
                    s.shape("redline", "scenic", "ws"), _forest(s))
    rng = _rng("永久基本农田")
    x0, y0, x1, y1 = allowed.bounds
    picked: list[Point] = []
    out: list[Feature] = []
    for _ in range(2000):
        if len(out) == 8:
            break
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if not allowed.contains(p) or any(_to_km(p, ORIGIN).distance(_to_km(q, ORIGIN)) < 3.0 for q in picked):
            continue
        i = len(out) + 1
        patch = _inter(_blob(f"永久基本农田/{i}", (p.x, p.y), *rng.uniform(0.45, 0.9, 2), n=72,
                             rot_deg=float(rng.uniform(0, 180))), allowed)
        picked.append(p)
        out.append((patch, {"name": _name(f"市中区永久基本农田片块{i:02d}"), "code": f"JBNT511102{i:04d}"}))
    return out


def _urban_boundary(s: _Scene) -> list[Feature]:
    return [(s.shape("urban"), {"name": _name("乐山中心城区城镇开发边界")})]


def _functional_zone(s: _Scene) -> list[Feature]:
    return _zones(s, "leshan", [
        ("fz/urbanised", {"name": _name("乐山城市化地区"), "type": "urbanisation"}),
        ("in/fz/agri", {"name": _name("乐山东部农产品主产区"), "type": "agricultural"}),
        ("in/fz/eco", {"name": _name("小凉山重点生态功能区"), "type": "ecological"})])


def _water_function_zone(s: _Scene) -> list[Feature]:
    """300 m corridors along the three rivers in 市中区, carved so they do not overlap at the confluence."""
    rows = [("source", "岷江乐山饮用水源区", "岷江", "II", "II"),
            ("city", "岷江乐山城区景观娱乐用水区", "岷江", "III", "III"),
            ("qingyi", "青衣江乐山保留区", "青衣江", "II", "II"),
            ("dadu", "大渡河乐山过渡区", "大渡河", "III", "III"),
            ("lower", "岷江乐山工业用水区", "岷江", "III", "IV")]
    return _zones(s, "district", [(f"in/corridor/{key}", {"name": _name(n), "water_body": w, "target_class": t,
                                                          "current_class": c}) for key, n, w, t, c in rows])


def _noise_zone(s: _Scene) -> list[Feature]:
    return _zones(s, "city", [("in/road", {"name": _name("嘉州大道两侧4a类区"), "class": "4a"}),
                              ("in/quiet", {"name": _name("城北文教居住1类区"), "class": "1"}),
                              ("jiazhou", {"name": _name("嘉州工业园3类区"), "class": "3"}),
                              (None, {"name": _name("中心城区2类区"), "class": "2"})])


def _river_shoreline(s: _Scene) -> list[Feature]:
    rows = [("岷江", "长江", "tributary"), ("青衣江", "长江", "tributary"), ("大渡河", "长江", "tributary"),
            ("黄河", "黄河", "mainstem")]
    return [(s.rivers[n], {"name": _name(n), "basin": b, "level": lv}) for n, b, lv in rows]


def _eco_fragile_area(s: _Scene) -> list[Feature]:
    g = _inter(_blob("黄河上游生态脆弱区", (102.7, 33.55), 55, 45, n=280, rot_deg=-10), s.shape("aba"))
    return [(g, {"name": _name("黄河上游若尔盖草原湿地生态敏感脆弱区"), "basin": "黄河"})]


def _industrial_park(s: _Scene) -> list[Feature]:
    chem = _diff(_inter(_blob("化工园区", (103.96, 29.44), 1.8, 1.5, n=120), s.shape("leshan")), s.shape("district"))
    return [(s.shape("jiazhou"), {"name": _name("嘉州工业园"), "level": "provincial", "chemical": False}),
            (chem, {"name": _name("乐山化工园区"), "level": "provincial", "chemical": True})]


RECEPTORS = [  # name, type, lon, lat, radius in metres (0: a point)
    ("滨江花园小区", "residential", 103.768, 29.595, 220), ("通江小区", "residential", 103.785, 29.575, 200),
    ("嘉州新城小区", "residential", 103.815, 29.612, 240), ("青衣江畔小区", "residential", 103.742, 29.600, 180),
    ("城北小学", "school", 103.757, 29.606, 0), ("嘉州实验中学", "school", 103.800, 29.590, 0),
    ("水口镇中心小学", "school", 103.850, 29.660, 0), ("乐山市人民医院", "hospital", 103.775, 29.585, 0),
    ("市中区中医医院", "hospital", 103.790, 29.560, 0), ("夕阳红养老院", "care_home", 103.785, 29.612, 0),
    ("康乐养老院", "care_home", 103.735, 29.530, 0),
]


def _sensitive_receptor(s: _Scene) -> list[Feature]:
    out: list[Feature] = []
    for name, kind, lon, lat, radius in RECEPTORS:
        geom = _blob(f"敏感目标/{name}", (lon, lat), radius / 1000, n=60, rough=0.2) if radius else Point(lon, lat)
        out.append((geom, {"name": _name(name), "type": kind}))
    return out


def _contaminated_site(s: _Scene) -> list[Feature]:
    rows = [("原乐山化工厂地块", (103.842, 29.612), 0.25, "修复中"),
            ("原嘉州电镀厂地块", (103.812, 29.643), 0.18, "风险管控中"),
            ("化工园区周边遗留地块", (103.975, 29.455), 0.22, "已完成修复")]
    return [(_blob(f"污染地块/{n}", c, r, r * 0.7, n=64, rot_deg=40), {"name": _name(n), "status": st})
            for n, c, r, st in rows]


def _admin_region(s: _Scene) -> list[Feature]:
    rows = [("sichuan", "510000", "四川省", "province"), ("leshan", "511100", "乐山市", "prefecture"),
            ("district", "511102", "乐山市市中区", "county"), ("aba", "513200", "阿坝藏族羌族自治州", "prefecture"),
            ("ganzi", "513300", "甘孜藏族自治州", "prefecture")]
    return [(s.shape(key), {"code": c, "name": _name(n), "level": lv}) for key, c, n, lv in rows]


# kind id -> (geometry of the kind, catalog name_zh, builder); one demo layer per kind, layer_id = kind
BUILDERS: dict[str, tuple[str, str, Callable[[_Scene], list[Feature]]]] = {
    "eco_redline": ("polygon", "生态保护红线", _eco_redline),
    "national_park": ("polygon", "国家公园", _national_park),
    "nature_reserve": ("polygon", "自然保护区", _nature_reserve),
    "scenic_area": ("polygon", "风景名胜区", _scenic_area),
    "forest_park": ("polygon", "森林公园", _forest_park),
    "wetland_park": ("polygon", "湿地公园", _wetland_park),
    "geopark": ("polygon", "地质公园", _geopark),
    "world_heritage": ("polygon", "世界遗产", _world_heritage),
    "water_source": ("polygon", "饮用水水源保护区", _water_source_zones),
    "control_unit": ("polygon", "环境管控单元", _control_unit),
    "element_zone": ("polygon", "要素管控分区", _element_zone),
    "resource_zone": ("polygon", "资源利用上线管控分区", _resource_zone),
    "basic_farmland": ("polygon", "永久基本农田", _basic_farmland),
    "urban_boundary": ("polygon", "城镇开发边界", _urban_boundary),
    "functional_zone": ("polygon", "主体功能区", _functional_zone),
    "water_function_zone": ("polygon", "水环境功能区", _water_function_zone),
    "noise_zone": ("polygon", "声环境功能区", _noise_zone),
    "river_shoreline": ("line", "岸线", _river_shoreline),
    "eco_fragile_area": ("polygon", "生态敏感脆弱区", _eco_fragile_area),
    "industrial_park": ("polygon", "产业园区", _industrial_park),
    "sensitive_receptor": ("any", "环境敏感目标", _sensitive_receptor),
    "contaminated_site": ("polygon", "污染地块", _contaminated_site),
    "admin_region": ("polygon", "行政区", _admin_region),
}


# ---------------------------------------------------------------------------------------------------------
# output


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygon parts (an overlay may leave a touching line or point), exteriors counter-clockwise."""
    parts = [orient(p, 1.0) for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    if geom.geom_type == "MultiPolygon" or len(parts) > 1:
        return MultiPolygon(parts)
    return parts[0] if parts else Polygon()


def _finish(geom: BaseGeometry, geometry_type: str) -> BaseGeometry:
    geom = _snap(geom)
    if geometry_type == "polygon" or geom.geom_type in ("Polygon", "MultiPolygon"):
        geom = _polygonal(geom)
    return geom


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _feature_json(geom: BaseGeometry, props: dict[str, Any]) -> dict[str, Any]:
    g = mapping(geom)
    return {"type": "Feature", "properties": {**props, "demo": True, "note": DEMO_NOTE},
            "geometry": {"type": g["type"], "coordinates": _rounded(g["coordinates"])}}


def _write_geojson(path: Path, layer_id: str, features: list[dict[str, Any]]) -> None:
    doc = {"type": "FeatureCollection", "name": layer_id, "features": features}
    path.write_bytes((json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))


def write_demo_layers(out_dir: Path) -> list[DemoLayer]:
    """Write one GeoJSON (RFC 7946, lon/lat, UTF-8) per demo layer into out_dir; deterministic (same bytes every run)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = _scene()
    layers: list[DemoLayer] = []
    for kind, (geometry_type, name_zh, build) in BUILDERS.items():
        features = []
        for geom, props in build(scene):
            geom = _finish(geom, geometry_type)
            if geom.is_empty:  # a shape was placed where it got clipped away: a bug in this module
                raise ValueError(f"demo layer {kind}: feature {props.get('name')} has no geometry")
            features.append(_feature_json(geom, props))
        path = out_dir / f"{kind}.geojson"
        _write_geojson(path, kind, features)
        layers.append(DemoLayer(layer_id=kind, kind=kind, path=path, name_zh=_name(name_zh)))
    return layers


def sample_boundary_txt(redline: BaseGeometry, width_m: float = 600.0, height_m: float = 400.0) -> str:
    """A 界址点 TXT (勘测定界 exchange format, CGCS2000 3° zone with prefix) for a rectangle centred on the
    redline's edge: a sample planners can try the page with (示意数据, like the layers)."""
    from pyproj import Transformer

    from app.domain.crs import gk3_epsg, gk3_zone_of

    edge = redline.boundary.interpolate(0.3, normalized=True)
    epsg = gk3_epsg(edge.x, prefixed=True)
    zone, _prefixed = gk3_zone_of(epsg)
    tr = Transformer.from_crs(4490, epsg, always_xy=True)
    e, n = tr.transform(edge.x, edge.y)
    corners = [(n + height_m / 2, e - width_m / 2), (n + height_m / 2, e + width_m / 2),
               (n - height_m / 2, e + width_m / 2), (n - height_m / 2, e - width_m / 2)]
    corners.append(corners[0])
    area_ha = width_m * height_m / 10_000
    lines = ["[属性描述]", "格式版本号=1.01版本", "数据产生单位=EcoRedline 示意数据生成器", "坐标系=2000国家大地坐标系",
             "几度分带=3", "投影类型=高斯克吕格", "计量单位=米", f"带号={zone}", "精度=0.001", "[地块坐标]",
             f"{len(corners)},{area_ha:.4f},DK01,示例地块（示意）,面,,工业用地,,@"]
    lines += [f"J{i % 4 + 1},1,{x:.3f},{y:.3f}" for i, (x, y) in enumerate(corners)]
    return "\n".join(lines) + "\n"
