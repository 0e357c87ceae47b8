"""A vectorised Mapbox Vector Tile 2.1 encoder for geometries already in tile units (y down).

mapbox-vector-tile walks every coordinate in Python: a z6 tile of a province's redlines (3,000
polygons, 60,000 vertices) took ~300 ms to encode. Here rings are rounded, de-duplicated, oriented
(exterior rings positive by the surveyor's formula in tile coordinates, as the spec defines), turned
into command integers and varint-encoded with numpy over the whole tile at once; only the small
per-feature protobuf framing runs in Python.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import shapely

_MOVE, _LINE, _CLOSE = 1, 2, 7
_POINT, _LINESTRING, _POLYGON = 1, 2, 3


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All values as varint bytes, concatenated, and each value's byte length."""
    v = values.astype(np.uint64)
    n = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        n += (v >= (np.uint64(1) << np.uint64(7 * k))).astype(np.int64)
    total = int(n.sum())
    out = np.empty(total, dtype=np.uint8)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    for k in range(int(n.max()) if len(n) else 0):
        has = n > k
        byte = (v[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (n[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[start[has] + k] = (byte | more).astype(np.uint8)
    return out, n


_SMALL = [bytes((i,)) for i in range(128)]


def _varint(value: int) -> bytes:
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygon rings in tile units: (coordinates, ring per coordinate, feature per ring, exterior flag per
    ring, polygon part per ring)."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]] if len(ring_part) else np.zeros(0, bool)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    return coords, ring_of, part_owner[ring_part], exterior, ring_part


def _polygon_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Command integers of every polygon feature, concatenated, and how many belong to each feature."""
    counts = np.zeros(len(geoms), dtype=np.int64)
    if len(geoms) == 0:
        return np.zeros(0, dtype=np.uint64), counts
    coords, ring_of, ring_feature, exterior, ring_part = _rings(geoms)
    if len(coords) == 0:
        return np.zeros(0, dtype=np.uint64), counts
    xy = np.rint(coords).astype(np.int64)
    # drop each ring's closing point and any point equal to the one before it in the same ring
    last = np.r_[ring_of[1:] != ring_of[:-1], True]
    same = np.r_[False, (xy[1:] == xy[:-1]).all(axis=1) & (ring_of[1:] == ring_of[:-1])]
    keep = ~last & ~same
    xy, ring_of = xy[keep], ring_of[keep]
    nring = len(ring_feature)
    length = np.bincount(ring_of, minlength=nring)
    starts = np.concatenate([[0], np.cumsum(length)[:-1]])
    # signed area (surveyor's formula) per ring; rings of < 3 points or no area are dropped
    nxt = np.arange(len(xy)) + 1
    ends = starts + length
    nxt[ends[length > 0] - 1] = starts[length > 0]
    cross = xy[:, 0] * xy[nxt, 1] - xy[nxt, 0] * xy[:, 1]
    area2 = np.bincount(ring_of, weights=cross, minlength=nring)
    ok = (length >= 3) & (area2 != 0)
    # a polygon whose exterior collapsed loses its holes too
    part_ok = np.zeros(ring_part.max() + 1 if len(ring_part) else 0, dtype=bool)
    part_ok[ring_part[exterior & ok]] = True
    ok &= part_ok[ring_part]
    # orientation: exterior positive, interior negative; reverse the rings that are the other way
    flip = ok & ((area2 > 0) != exterior)
    order = np.arange(len(xy))
    rf = flip[ring_of]
    order[rf] = starts[ring_of[rf]] + (ends[ring_of[rf]] - 1 - order[rf])
    xy = xy[order]
    point_ok = ok[ring_of]
    xy, ring_of = xy[point_ok], ring_of[point_ok]
    rings_kept = np.flatnonzero(ok)
    if len(rings_kept) == 0:
        return np.zeros(0, dtype=np.uint64), counts
    length_k = length[rings_kept]
    feature_k = ring_feature[rings_kept]
    # deltas: the cursor runs on across the rings of a feature and starts at (0, 0) for each feature
    first_of_feature = np.r_[True, feature_k[1:] != feature_k[:-1]]
    prev = np.vstack([[0, 0], xy[:-1]])
    point_first_in_feature = np.zeros(len(xy), dtype=bool)
    ring_starts_k = np.concatenate([[0], np.cumsum(length_k)[:-1]])
    point_first_in_feature[ring_starts_k[first_of_feature]] = True
    prev[point_first_in_feature] = 0
    delta = _zigzag(xy - prev)
    # layout per ring: MoveTo(1) dx dy, LineTo(n-1) (dx dy)*, ClosePath(1) → 2n + 3 integers
    size = 2 * length_k + 3
    out = np.empty(int(size.sum()), dtype=np.uint64)
    base = np.concatenate([[0], np.cumsum(size)[:-1]])
    out[base] = (1 << 3) | _MOVE
    out[base + 3] = ((length_k - 1) << 3) | _LINE
    out[base + size - 1] = (1 << 3) | _CLOSE
    local = np.arange(len(xy)) - np.repeat(ring_starts_k, length_k)  # point index within its ring
    pos = np.repeat(base, length_k) + 1 + 2 * local + (local > 0)  # skip the LineTo header after point 0
    out[pos] = delta[:, 0]
    out[pos + 1] = delta[:, 1]
    counts += np.bincount(feature_k, weights=size, minlength=len(geoms)).astype(np.int64)
    return out, counts


def _simple_commands(geom) -> list[int]:
    """Points and lines (few in practice): commands built per feature."""
    cmds: list[int] = []
    cx = cy = 0

    def delta(x: int, y: int) -> None:
        nonlocal cx, cy
        dx, dy = x - cx, y - cy
        cx, cy = x, y
        cmds.extend([(dx << 1) ^ (dx >> 63), (dy << 1) ^ (dy >> 63)])

    kind = shapely.get_type_id(geom)
    if kind in (0, 4):  # (multi)point
        pts = np.rint(shapely.get_coordinates(geom)).astype(np.int64)
        cmds.append((len(pts) << 3) | _MOVE)
        for px, py in pts.tolist():
            delta(px, py)
        return cmds
    for line in shapely.get_parts(geom):
        pts = np.rint(shapely.get_coordinates(line)).astype(np.int64)
        pts = pts[np.r_[True, (pts[1:] != pts[:-1]).any(axis=1)]]
        if len(pts) < 2:
            continue
        cmds.append((1 << 3) | _MOVE)
        delta(*pts[0].tolist())
        cmds.append(((len(pts) - 1) << 3) | _LINE)
        for px, py in pts[1:].tolist():
            delta(px, py)
    return cmds


def _value(v: Any) -> bytes:
    if isinstance(v, bool):
        return _field(7, 0) + _varint(int(v))
    if isinstance(v, int) and -(2**63) <= v < 2**63:
        return _field(6, 0) + _varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)
    if isinstance(v, float):
        return _field(3, 1) + struct.pack("<d", v)
    return _bytes_field(1, str(v).encode("utf-8"))


def encode_layer(name: str, fids: np.ndarray, geoms: np.ndarray, properties: list[dict[str, Any]],
                 extent: int = 4096) -> bytes:
    """One MVT layer as a whole tile (empty bytes when no feature keeps a geometry)."""
    geoms = np.asarray(geoms, dtype=object)
    types = shapely.get_type_id(geoms)
    is_poly = np.isin(types, (3, 6))
    poly_idx = np.flatnonzero(is_poly)
    poly_cmds, poly_counts = _polygon_commands(geoms[poly_idx])
    poly_bytes, poly_nbytes = _varints(poly_cmds)
    # byte range of each polygon feature's commands
    per_cmd_end = np.cumsum(poly_nbytes)
    cmd_end = np.cumsum(poly_counts)
    byte_end = np.where(cmd_end > 0, per_cmd_end[np.maximum(cmd_end - 1, 0)] if len(per_cmd_end) else 0, 0)
    byte_start = np.concatenate([[0], byte_end[:-1]]) if len(byte_end) else byte_end
    geometry_of: dict[int, tuple[int, bytes]] = {}
    raw = poly_bytes.tobytes()
    for j, i in enumerate(poly_idx.tolist()):
        if poly_counts[j]:
            geometry_of[i] = (_POLYGON, raw[int(byte_start[j]):int(byte_end[j])])
    for i in np.flatnonzero(~is_poly).tolist():
        g = geoms[i]
        if g is None or shapely.is_empty(g):
            continue
        cmds = _simple_commands(g)
        if cmds:
            kind = _POINT if types[i] in (0, 4) else _LINESTRING
            geometry_of[i] = (kind, b"".join(_varint(c) for c in cmds))
    keys: dict[str, int] = {}
    values: dict[tuple[type, Any], int] = {}
    features = []
    for i in sorted(geometry_of):
        kind, geometry = geometry_of[i]
        tags = []
        for k, v in properties[i].items():
            if v is None or not isinstance(v, (str, int, float, bool)):
                continue
            tags.append(keys.setdefault(k, len(keys)))
            tags.append(values.setdefault((type(v), v), len(values)))
        parts = [b"\x08", _varint(int(fids[i]))]  # 1: id
        if tags:
            packed = b"".join([_SMALL[t] if t < 128 else _varint(t) for t in tags])
            parts += [b"\x12", _varint(len(packed)), packed]  # 2: tags
        parts += [b"\x18", _SMALL[kind], b"\x22", _varint(len(geometry)), geometry]  # 3: type, 4: geometry
        body = b"".join(parts)
        features.append(b"\x12" + _varint(len(body)) + body)  # layer field 2: a feature
    if not features:
        return b""
    layer = (_field(15, 0) + _varint(2) + _bytes_field(1, name.encode("utf-8")) + b"".join(features)
             + b"".join(_bytes_field(3, k.encode("utf-8")) for k in keys)
             + b"".join(_bytes_field(4, _value(v)) for (_t, v) in values)
             + _field(5, 0) + _varint(extent))
    return _bytes_field(3, layer)
