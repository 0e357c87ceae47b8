"""CGCS2000 coordinate systems: Gauss–Krüger zones and inference for coordinates without a CRS.

EPSG codes (all CGCS2000):
  4490        geographic (storage CRS)
  4491–4501   6° GK zones 13–23, zone number in the false easting (13,500,000 …)
  4502–4512   6° GK CM 75°E–135°E, false easting 500,000
  4513–4533   3° GK zones 25–45, zone number in the false easting (25,500,000 …)
  4534–4554   3° GK CM 75°E–135°E, false easting 500,000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

STORAGE_EPSG = 4490
CHINA_LONLAT = (73.0, 3.0, 136.0, 54.0)


def gk3_zone(lon: float) -> int:
    return int(math.floor(lon / 3.0 + 0.5))


# CGCS2000 Gauss–Krüger codes: (first code, first zone) by zone width and by zone prefix on the easting
_GK_CODES = {(3, True): (4513, 25), (3, False): (4534, 25), (6, True): (4491, 13), (6, False): (4502, 13)}
_GK_ZONES = {3: (25, 45), 6: (13, 23)}  # the zones covering China


def gk_zone_in_china(zone: int, width: int = 3) -> bool:
    """Whether ``zone`` is a ``width``° GK zone over China (3°: 25–45, 6°: 13–23)."""
    lo, hi = _GK_ZONES[width]
    return lo <= zone <= hi


def cgcs2000_gk_epsg(zone: int, width: int = 3, prefixed: bool = False) -> int:
    """The EPSG code of a CGCS2000 GK zone (3° zones 25–45: 4513–4533 prefixed, 4534–4554 not;
    6° zones 13–23: 4491–4501 and 4502–4512)."""
    first, first_zone = _GK_CODES[(width, prefixed)]
    return first + zone - first_zone


def gk_zone_of(epsg: int | str) -> tuple[int, int, bool] | None:
    """``(zone, width, prefixed)`` of a CGCS2000 GK code; None for any other CRS."""
    if isinstance(epsg, int):
        for (width, prefixed), (first, first_zone) in _GK_CODES.items():
            if gk_zone_in_china(epsg - first + first_zone, width):
                return epsg - first + first_zone, width, prefixed
    return None


def gk_false_easting(epsg: int | str) -> float | None:
    """The easting of a CGCS2000 GK code's central meridian (500 km, after the zone prefix if any)."""
    found = gk_zone_of(epsg)
    if found is None:
        return None
    zone, _width, prefixed = found
    return 500_000.0 + (zone * 1_000_000.0 if prefixed else 0.0)


# the CGCS2000 ellipsoid: semi-major axis, first eccentricity squared, and the footpoint series' e1
_A = 6_378_137.0
_E2 = (1 / 298.257222101) * (2 - 1 / 298.257222101)
_E1 = (1 - math.sqrt(1 - _E2)) / (1 + math.sqrt(1 - _E2))


def gk_areal_scale(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How many times a GK plane enlarges areas at ``x`` metres east of the central meridian and northing
    ``y``: the square of the point scale (the projection is conformal), from the footpoint latitude's
    radii. Agrees with PROJ's ``get_factors`` to 2e-8 over every zone from 16° to 54° N and 3.2° either
    side of the meridian, as plain arithmetic (PROJ's call costs ~90 µs to set up)."""
    mu = np.asarray(y, dtype=float) / (_A * (1 - _E2 / 4 - 3 * _E2 * _E2 / 64))
    phi = mu + 1.5 * _E1 * np.sin(2 * mu)  # the footpoint latitude, to a few metres: enough for its radii
    w = 1 - _E2 * np.sin(phi) ** 2
    q = np.square(x) * (w * w) / (_A * _A * (1 - _E2))  # x² / (ρν)
    k = 1 + q / 2 + q * q / 24 + q * q * q / 720
    return k * k


def gk3_epsg(lon: float, *, prefixed: bool = False) -> int:
    """The 3° GK zone EPSG code for a longitude (the official plane for areas, e.g. 国土三调)."""
    return cgcs2000_gk_epsg(min(max(gk3_zone(lon), 25), 45), 3, prefixed)


def gk3_zone_of(epsg: int | str) -> tuple[int, bool] | None:
    """``(zone, prefixed)`` of a CGCS2000 3° GK code (EPSG:4513–4533 with the zone before the easting,
    4534–4554 without); None for any other CRS."""
    found = gk_zone_of(epsg)
    return (found[0], found[2]) if found is not None and found[1] == 3 else None


def gk6_epsg(lon: float, *, prefixed: bool = False) -> int:
    return cgcs2000_gk_epsg(min(max(int(math.floor(lon / 6.0)) + 1, 13), 23), 6, prefixed)


@lru_cache(maxsize=128)
def transformer(src: int | str, dst: int | str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def in_china(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = CHINA_LONLAT
    return x0 <= lon <= x1 and y0 <= lat <= y1


@dataclass(frozen=True)
class CrsGuess:
    epsg: int
    source: str  # prefix | guess
    swapped: bool  # the file's x holds northings
    note: str


def infer_crs(minx: float, miny: float, maxx: float, maxy: float) -> CrsGuess | None:
    """Infer the CRS of coordinates that carry none, or return None when it cannot be known.

    Recognised: lon/lat inside China (taken as CGCS2000 geographic), and Gauss–Krüger coordinates
    whose easting carries the zone number (8 digits: 3° zones 25–45, 6° zones 13–23), with the
    axes either way round. GK coordinates without a zone prefix are ambiguous and return None.
    """
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return None
    if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        if in_china(minx, miny) and in_china(maxx, maxy):
            return CrsGuess(STORAGE_EPSG, "guess", False, "经纬度坐标，按 CGCS2000 地理坐标 (EPSG:4490) 读取")
        return None
    for swapped, (e0, e1, n0, n1) in ((False, (minx, maxx, miny, maxy)), (True, (miny, maxy, minx, maxx))):
        if not (300_000 <= n0 <= n1 <= 6_100_000):
            continue
        z0, z1 = int(e0 // 1_000_000), int(e1 // 1_000_000)
        if z0 != z1:
            continue
        if not (100_000 <= e0 - z0 * 1_000_000 and e1 - z1 * 1_000_000 <= 900_000):
            continue
        if gk_zone_in_china(z0):
            epsg = cgcs2000_gk_epsg(z0, 3, True)
            kind = f"3° 分带第 {z0} 带"
        elif gk_zone_in_china(z0, 6):
            epsg = cgcs2000_gk_epsg(z0, 6, True)
            kind = f"6° 分带第 {z0} 带"
        else:
            continue
        lon, lat = transformer(epsg, STORAGE_EPSG).transform((e0 + e1) / 2, (n0 + n1) / 2)
        if not in_china(lon, lat):
            continue
        note = f"高斯-克吕格坐标，带号前缀 {z0}：CGCS2000 {kind} (EPSG:{epsg})"
        if swapped:
            note += "；X/Y 轴互换（X 为北坐标）"
        return CrsGuess(epsg, "prefix", swapped, note)
    return None



# GCJ-02 ("Mars coordinates") is the obfuscated lon/lat of web maps in China (高德, 腾讯, 天地图 is not).
# The forward formula is public; the inverse is solved by fixed-point iteration to < 1e-9°.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * pi
    magic = 1 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert the GCJ-02 offset by iteration (the offset varies slowly, so this converges fast)."""
    wl, wb = np.array(lon, dtype=float), np.array(lat, dtype=float)
    for _ in range(30):
        gl, gb = wgs84_to_gcj02(wl, wb)
        el, eb = gl - lon, gb - lat
        wl, wb = wl - el, wb - eb
        if np.max(np.abs(el)) < 1e-10 and np.max(np.abs(eb)) < 1e-10:
            break
    return wl, wb
