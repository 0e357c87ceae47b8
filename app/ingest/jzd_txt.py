"""Parse 界址点 coordinate TXT files (the 勘测定界 / 建设用地报批 exchange format).

The format is a de-facto standard with many regional variants (see
``/work/shared/domain/peer-systems-and-formats.md`` §5): GBK or UTF-8, full-width brackets, optional
``J`` point prefixes, missing closing points, 界址点数 counted in different ways, swapped X/Y
columns, zone prefixes on or off, old datums.  The parser accepts every variant it can read without
guessing a number that changes where the parcel lies, says what it did in ``warnings``, and refuses
the rest with an ``InputRefused`` whose code, line and bilingual message tell the user what to fix.

Geometry stays in the file's own projected CRS (x = easting, y = northing, zone prefix kept); the
caller transforms to storage and runs ``make_valid``.  Rings are built with numpy, one shapely call
per ring, and CRS checks transform one point, so a 10,000-point file parses in milliseconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from pyproj.crs import BoundCRS
from pyproj.crs.coordinate_operation import ToWGS84Transformation
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from app.domain.crs import (
    STORAGE_EPSG,
    cgcs2000_gk_epsg,
    gk3_epsg,
    gk_zone_in_china,
    gk_zone_of,
    in_china,
    transformer,
)
from app.domain.errors import InputRefused

__all__ = ["JzdFile", "JzdParcel", "TxtWarning", "parse_jzd_txt"]


@dataclass
class TxtWarning:
    code: str  # stable, e.g. "W_TXT_POINT_COUNT"
    line: int | None  # 1-based line number in the file, where one applies
    message_zh: str
    message_en: str


@dataclass
class JzdParcel:
    index: int  # 1-based order in the file
    line: int  # line number of its header line
    declared_points: int | None  # 界址点数 as written
    declared_area_ha: float | None  # 地块面积 (hectares) as written
    code: str | None  # 地块编号
    name: str | None  # 地块名称
    shape_type: str  # 面 / 线 / 点 (记录图形属性)
    sheet: str | None  # 图幅号
    use: str | None  # 地块用途
    land_class: str | None  # 地类编码
    extra: list[str]  # any further fields before '@'
    geometry: BaseGeometry  # in the file's CRS, x = easting (zone prefix kept), y = northing
    area_m2: float  # planar area on the file's GK plane; 0 for 线/点
    ring_roles: dict[int, str]  # 圈号 -> "outer" | "hole" | "part"


@dataclass
class JzdFile:
    header: dict[str, str]  # [属性描述] key=value pairs ([项目信息] prefixed "项目信息.")
    crs: str  # "EPSG:4527", a PROJ string (old datum approximated) or WKT (old datum + 7 parameters)
    crs_source: str  # "header" | "prefix" | "user" | "guess"
    zone: int | None
    zone_width: int  # 3 or 6
    prefixed: bool  # eastings carry the zone number
    swapped: bool  # X/Y columns were swapped in the file and have been corrected
    encoding: str  # "UTF-8", "UTF-8-SIG", "GB18030" ("UTF-16" for Notepad "Unicode" files)
    parcels: list[JzdParcel]
    warnings: list[TxtWarning] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# constants

_SECTION_RE = re.compile(r"^\[\s*([^\[\]]*?)\s*\]$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
_FULLWIDTH = (("【", "["), ("】", "]"), ("［", "["), ("］", "]"), ("\u3000", " "), ("＝", "="), ("＠", "@"),
              ("\ufeff", ""))

_SEC_HEADER = "属性描述"
_SEC_COORDS = "地块坐标"
_SEC_PROJECT = "项目信息"

CGCS2000, XIAN80, BEIJING54 = "CGCS2000", "XIAN80", "BEIJING54"
_DATUM_ZH = {CGCS2000: "2000国家大地坐标系", XIAN80: "1980西安坐标系", BEIJING54: "1954北京坐标系"}
_DATUM_EN = {CGCS2000: "CGCS2000", XIAN80: "Xian 1980", BEIJING54: "Beijing 1954"}
_DATUM_ELLPS = {XIAN80: "IAU76", BEIJING54: "krass"}

_NORTH_MIN, _NORTH_MAX = 300_000.0, 6_100_000.0  # GK northings in China (Nansha ≈ 0.4e6, Mohe ≈ 5.9e6)
_EAST_MIN, _EAST_MAX = 100_000.0, 900_000.0  # 500 km false easting ± 400 km
_WARN_CAP = 50  # per code; the rest are summarised in one warning


def _central_meridian(zone: int, width: int) -> int:
    return 3 * zone if width == 3 else 6 * zone - 3


def _refuse(code: str, zh: str, en: str, status: int = 422, **detail: Any) -> InputRefused:
    return InputRefused(code, zh, en, status=status, detail={k: v for k, v in detail.items() if v is not None})


def _fmt_area(a: float) -> tuple[str, str]:
    return f"{a:,.2f} 平方米（{a / 10_000:.4f} 公顷）", f"{a:,.2f} m² ({a / 10_000:.4f} ha)"


# ---------------------------------------------------------------------------------------------------
# decoding


def _decode(data: bytes) -> tuple[str, str]:
    """Decode as UTF-8 (BOM or not), Notepad UTF-16, else GB18030; refuse binary content."""
    if not data or not data.strip(b" \t\r\n\x1a"):
        raise _refuse("E_TXT_EMPTY", "坐标文件为空。", "The coordinate file is empty.")
    text: str | None = None
    encoding = ""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding = "UTF-8-SIG"
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError:
            text = None
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "UTF-16"
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            text = None
    elif b"\x00" not in data:
        for enc, name in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
            try:
                text, encoding = data.decode(enc), name
                break
            except UnicodeDecodeError:
                continue
    if text is not None and "\x00" in text:  # NUL in decoded text (UTF-16 can carry it): binary, not a survey
        text = None
    if text is not None:
        text = text.rstrip("\x1a")  # DOS end-of-file marker
        if _CTRL_RE.search(text):
            text = None
    if text is None:
        raise _refuse(
            "E_TXT_ENCODING",
            "无法识别文件编码，或文件不是文本文件：界址点坐标文件应为 UTF-8 或 GBK（GB18030）编码的纯文本。"
            "请用记事本打开并“另存为”UTF-8 后重新上传。",
            "The file is not readable text: a 界址点 coordinate file must be plain text in UTF-8 or GBK "
            "(GB18030). Open it in a text editor, save it as UTF-8 and upload it again.",
        )
    if not text.strip():
        raise _refuse("E_TXT_EMPTY", "坐标文件为空。", "The coordinate file is empty.")
    return text, encoding


# ---------------------------------------------------------------------------------------------------
# parser


@dataclass
class _RawParcel:
    index: int
    line: int
    start: int  # first row index into the point arrays
    end: int
    declared_points: int | None
    declared_area_ha: float | None
    area_decimals: int | None  # decimals written in 地块面积, for the rounding allowance
    fields: list[str]
    shape_type: str


@dataclass
class _Ring:
    rid: int
    idx: np.ndarray  # indices into the point arrays, closed (first == last) for 面
    role: str = "outer"
    parent: int | None = None
    signed_area: float = 0.0
    closed_here: bool = False  # the closing point was added by the parser


class _Parser:
    def __init__(self, *, crs: str | None, zone: int | None, accept_datum_approximation: bool,
                 area_tolerance: float, max_points: int) -> None:
        self.crs_arg = crs.strip() if isinstance(crs, str) and crs.strip() else None
        self.zone_arg = zone
        self.accept_approx = accept_datum_approximation
        self.area_tolerance = area_tolerance
        self.max_points = max_points
        self.line: int | None = None  # where we are, for wrapping unexpected errors
        self.header: dict[str, str] = {}
        self.has_header_section = False
        self.has_coord_section = False
        self.parcels: list[_RawParcel] = []
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.rids: list[int] = []
        self.row_lines: list[int] = []
        self._warnings: list[TxtWarning] = []
        self._warn_counts: dict[str, int] = {}
        self._space_line: int | None = None
        self._trailing_line: int | None = None
        self._data_in_header: int | None = None  # first coordinate-like line outside [地块坐标]

    # -- warnings ---------------------------------------------------------------------------------

    def warn(self, code: str, line: int | None, zh: str, en: str) -> None:
        """Record a warning; after ``_WARN_CAP`` of one code only count, so a report stays readable."""
        n = self._warn_counts.get(code, 0) + 1
        self._warn_counts[code] = n
        if n <= _WARN_CAP:
            self._warnings.append(TxtWarning(code, line, zh, en))

    def finish_warnings(self) -> list[TxtWarning]:
        out = list(self._warnings)
        for code, n in self._warn_counts.items():
            if n > _WARN_CAP:
                out.append(TxtWarning(code, None, f"另有 {n - _WARN_CAP} 条同类提示（{code}）未逐条列出。",
                                      f"{n - _WARN_CAP} more warnings of this kind ({code}) are not listed."))
        return out

    # -- reading ----------------------------------------------------------------------------------

    def read(self, text: str) -> None:
        """Split into sections; point rows take a fast path (plain ASCII, 4 fields) at ~1 µs a line."""
        for a, b in _FULLWIDTH:
            if a in text:
                text = text.replace(a, b)
        section: str | None = None
        ignored: list[int] = []
        xs, ys, rids, row_lines = self.xs, self.ys, self.rids, self.row_lines
        isfinite = math.isfinite
        max_points = self.max_points
        in_coords = has_parcel = False
        for lineno, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
            s = raw.strip()
            if not s:
                continue
            if in_coords and has_parcel and "@" not in s and s.isascii():
                parts = s.split(",")
                if len(parts) == 4 and " " not in s and "\t" not in s and "_" not in s:
                    try:
                        x, y, r = float(parts[2]), float(parts[3]), int(parts[1])
                    except ValueError:
                        pass
                    else:
                        if isfinite(x) and isfinite(y) and len(xs) < max_points:
                            xs.append(x)
                            ys.append(y)
                            rids.append(r)
                            row_lines.append(lineno)
                            continue
            self.line = lineno
            m = _SECTION_RE.match(s) if s[0] == "[" else None
            if m:
                section = re.sub(r"\s+", "", m.group(1))
                in_coords = section == _SEC_COORDS
                if section == _SEC_HEADER:
                    self.has_header_section = True
                elif section == _SEC_COORDS:
                    self.has_coord_section = True
                elif section != _SEC_PROJECT:
                    self.warn("W_TXT_UNKNOWN_SECTION", lineno,
                              f"第 {lineno} 行的节 [{section}] 不是标准节，其内容按键值对保存在文件头信息中。",
                              f"Line {lineno}: section [{section}] is not a standard section; its key=value "
                              "lines are kept in the header.")
                continue
            if section is None:
                ignored.append(lineno)
            elif section == _SEC_COORDS:
                self.data_line(lineno, s)
                has_parcel = bool(self.parcels)
            else:
                self.header_line(lineno, s, section)
        self.line = None
        for p, nxt in zip(self.parcels, self.parcels[1:] + [None]):
            p.end = nxt.start if nxt is not None else len(xs)
        if ignored:
            first = ignored[0]
            self.warn("W_TXT_IGNORED_LINE", first,
                      f"第 {first} 行起有 {len(ignored)} 行位于任何节（如 [属性描述]）之前，已忽略。",
                      f"{len(ignored)} line(s) from line {first} come before any section (such as [属性描述]) "
                      "and were ignored.")
        if self._space_line is not None:
            ln = self._space_line
            self.warn("W_TXT_SPACES", ln, f"第 {ln} 行起部分字段前后有多余空格，已去除。",
                      f"From line {ln}, some fields have stray spaces around them; they were removed.")
        if self._trailing_line is not None:
            ln = self._trailing_line
            self.warn("W_TXT_TRAILING_FIELD", ln, f"第 {ln} 行起坐标行末尾多了一个逗号，已忽略。",
                      f"From line {ln}, point rows end with an extra comma; it was ignored.")

    def header_line(self, lineno: int, s: str, section: str) -> None:
        if "=" not in s:
            if self._data_in_header is None and ("@" in s or s.count(",") == 3):
                self._data_in_header = lineno
            self.warn("W_TXT_IGNORED_LINE", lineno,
                      f"第 {lineno} 行在 [{section}] 中但不是“键=值”格式，已忽略。",
                      f"Line {lineno} is in [{section}] but is not a key=value line; it was ignored.")
            return
        key, value = s.split("=", 1)
        key = key.strip()
        if section != _SEC_HEADER:
            key = f"{section}.{key}"
        self.header[key] = value.strip()

    def data_line(self, lineno: int, s: str) -> None:
        if "，" in s:
            col = s.index("，") + 1
            raise _refuse(
                "E_TXT_FULLWIDTH_COMMA",
                f"第 {lineno} 行使用了中文逗号“，”（第 {col} 个字符）。坐标文件中的标点必须在英文输入法下输入，"
                "请把“，”改为英文逗号“,”后重新上传。",
                f"Line {lineno} uses a full-width comma '，' (character {col}). All punctuation in the "
                "coordinate file must be ASCII: replace '，' with ',' and upload again.",
                line=lineno,
            )
        parts = s.split(",")
        if " " in s or "\t" in s:
            stripped = [p.strip() for p in parts]
            if stripped != parts and self._space_line is None:
                self._space_line = lineno
            parts = stripped
        if "@" in s:
            self.parcel_header(lineno, parts)
            return
        if len(parts) == 5 and parts[4] == "":
            parts = parts[:4]
            if self._trailing_line is None:
                self._trailing_line = lineno
        if len(parts) != 4:
            hint_zh = "；若这是地块头行，请检查行末的“@”" if len(parts) >= 9 else ""
            hint_en = "; if this is a parcel header line, it is missing the trailing '@'" if len(parts) >= 9 else ""
            raise _refuse(
                "E_TXT_BAD_LINE",
                f"第 {lineno} 行无法识别：既不是地块头行（至少 9 个字段并以“@”结尾），也不是坐标行"
                f"（点号,圈号,X坐标,Y坐标 共 4 个字段），本行有 {len(parts)} 个字段{hint_zh}。",
                f"Line {lineno} is neither a parcel header (at least 9 fields ending in '@') nor a point row "
                f"(点号,圈号,X,Y: exactly 4 fields); it has {len(parts)} field(s){hint_en}.",
                line=lineno,
            )
        if not self.parcels:
            raise _refuse(
                "E_TXT_BAD_LINE",
                f"第 {lineno} 行是坐标行，但前面没有地块头行（如“10,1.1600,DK01,地块名称,面,,,,@”）。",
                f"Line {lineno} is a point row but no parcel header line (e.g. '10,1.1600,DK01,name,面,,,,@') "
                "comes before it.",
                line=lineno,
            )
        name, ring, xs, ys = parts
        if not _INT_RE.match(ring):
            raise _refuse(
                "E_TXT_BAD_LINE",
                f"第 {lineno} 行的圈号“{ring}”不是整数（外圈为 1，内圈依次为 2、3…）。",
                f"Line {lineno}: ring number (圈号) '{ring}' is not an integer (1 = outer ring, 2, 3… = "
                "inner rings).",
                line=lineno,
            )
        coords: list[float] = []
        for label, v in (("X", xs), ("Y", ys)):
            if not _NUM_RE.match(v):
                raise _refuse(
                    "E_TXT_BAD_COORDINATE",
                    f"第 {lineno} 行（点号 {name}）的 {label} 坐标“{v}”不是有效数字。",
                    f"Line {lineno} (point {name}): the {label} coordinate '{v}' is not a valid number.",
                    line=lineno,
                )
            f = float(v)
            if not math.isfinite(f):
                raise _refuse(
                    "E_TXT_BAD_COORDINATE",
                    f"第 {lineno} 行（点号 {name}）的 {label} 坐标“{v}”超出数值范围。",
                    f"Line {lineno} (point {name}): the {label} coordinate '{v}' is out of range.",
                    line=lineno,
                )
            coords.append(f)
        if len(self.xs) >= self.max_points:
            raise _refuse(
                "E_TXT_TOO_MANY_POINTS",
                f"坐标文件的界址点超过 {self.max_points:,} 个（第 {lineno} 行），请拆分后分批上传。",
                f"The coordinate file has more than {self.max_points:,} points (line {lineno}); split it "
                "and upload the parts separately.",
                status=413, line=lineno, max_points=self.max_points,
            )
        self.xs.append(coords[0])
        self.ys.append(coords[1])
        self.rids.append(int(float(ring)))
        self.row_lines.append(lineno)

    def parcel_header(self, lineno: int, parts: list[str]) -> None:
        at = next((i for i, p in enumerate(parts) if p.endswith("@")), None)
        if at is None:
            raise _refuse(
                "E_TXT_BAD_LINE",
                f"第 {lineno} 行含有“@”，但“@”不在字段末尾；地块头行应以“,@”结尾。",
                f"Line {lineno} contains '@' but not at the end of a field; a parcel header line ends in ',@'.",
                line=lineno,
            )
        fields = parts[:at] + ([parts[at][:-1].strip()] if parts[at] != "@" else [])
        if len(fields) < 8:
            raise _refuse(
                "E_TXT_BAD_LINE",
                f"第 {lineno} 行的地块头行只有 {len(fields)} 个属性字段；应至少有 8 个（界址点数,地块面积,地块编号,"
                "地块名称,记录图形属性,图幅号,地块用途,地类编码）并以“@”结尾，空字段也要保留逗号。",
                f"Line {lineno}: the parcel header has only {len(fields)} attribute field(s); it needs at "
                "least 8 (point count, area, code, name, shape type, sheet, use, land class) followed by "
                "'@'. Keep the commas of empty fields.",
                line=lineno,
            )
        index = len(self.parcels) + 1
        declared_points: int | None = None
        if fields[0]:
            if _INT_RE.match(fields[0]):
                declared_points = int(float(fields[0]))
            else:
                self.warn("W_TXT_HEADER_FIELD", lineno,
                          f"第 {lineno} 行的界址点数“{fields[0]}”不是整数，已忽略。",
                          f"Line {lineno}: the point count '{fields[0]}' is not an integer and was ignored.")
        declared_area: float | None = None
        decimals: int | None = None
        if fields[1]:
            if _NUM_RE.match(fields[1]) and math.isfinite(float(fields[1])):
                declared_area = float(fields[1])
                decimals = len(fields[1].split(".", 1)[1]) if "." in fields[1] and "e" not in fields[1].lower() else 0
            else:
                self.warn("W_TXT_HEADER_FIELD", lineno,
                          f"第 {lineno} 行的地块面积“{fields[1]}”不是数字，已忽略。",
                          f"Line {lineno}: the parcel area '{fields[1]}' is not a number and was ignored.")
        st = fields[4]
        if st in ("面", "线", "点"):
            shape = st
        else:
            shape = "面"
            self.warn("W_TXT_SHAPE_TYPE", lineno,
                      f"第 {lineno} 行的记录图形属性“{st}”不是 点/线/面，按“面”读取。",
                      f"Line {lineno}: shape type '{st}' is not 点/线/面 (point/line/polygon); read as 面 "
                      "(polygon).")
        if shape != "面":
            self.warn("W_TXT_NOT_POLYGON", lineno,
                      f"第 {lineno} 行的地块记录图形属性为“{shape}”，不是面，不能按面积进行筛查。",
                      f"Line {lineno}: the parcel's shape type is '{shape}', not 面 (polygon); it cannot be "
                      "screened as an area.")
        n = len(self.xs)
        self.parcels.append(_RawParcel(index, lineno, n, n, declared_points, declared_area, decimals,
                                       fields, shape))

    # -- CRS --------------------------------------------------------------------------------------

    def zone_width(self) -> tuple[int | None, bool, str]:
        """(width or None if unreadable, written explicitly, raw text) of 几度分带."""
        raw = self.header.get("几度分带", "").strip()
        if not raw:
            return 3, False, raw
        m = re.match(r"^([36])\s*(?:度|°)?\s*(?:分带|带)?$", raw)
        return (int(m.group(1)) if m else None), True, raw

    def datum(self) -> str:
        raw = self.header.get("坐标系", "").strip()
        if not raw:
            if self.has_header_section:
                self.warn("W_TXT_CRS_ASSUMED", None, "文件头未填写坐标系，按 2000国家大地坐标系（CGCS2000）读取。",
                          "The header gives no 坐标系 (coordinate system); CGCS2000 is assumed.")
            else:
                self.warn("W_TXT_CRS_ASSUMED", None, "文件没有 [属性描述] 节，坐标系按 2000国家大地坐标系（CGCS2000）读取。",
                          "The file has no [属性描述] section; the coordinate system is assumed to be CGCS2000.")
            return CGCS2000
        s = re.sub(r"[\s_\-]", "", raw).upper()
        if "2000" in s or "CGCS" in s:
            return CGCS2000
        if "西安" in s or "XIAN" in s or "80" in s:
            return XIAN80
        if "北京" in s or "BEIJING" in s or "54" in s:
            return BEIJING54
        raise _refuse(
            "E_TXT_CRS_UNKNOWN",
            f"无法识别文件头中的坐标系“{raw}”。支持：2000国家大地坐标系（CGCS2000）、1980西安坐标系、1954北京坐标系。"
            "地方独立坐标系请先转换为 CGCS2000，或在上传时指定坐标系（如 EPSG:4527）。",
            f"Unknown coordinate system '{raw}' in the header. Supported: CGCS2000 (2000国家大地坐标系), "
            "Xian 1980 and Beijing 1954. Convert a local system to CGCS2000 first, or give the CRS when "
            "uploading (e.g. EPSG:4527).",
            坐标系=raw,
        )

    def datum_params(self) -> tuple[list[float] | None, str]:
        """The 7 转换参数 as numbers, or None when the slot is empty or all zeros (a placeholder)."""
        raw = self.header.get("转换参数", "").replace("，", ",")
        tokens = [t.strip() for t in re.split(r"[,;，\s]+", raw.strip()) if t.strip()]
        if not tokens:
            return None, raw
        if len(tokens) == 7 and all(_NUM_RE.match(t) and math.isfinite(float(t)) for t in tokens):
            vals = [float(t) for t in tokens]
            return (None if all(v == 0 for v in vals) else vals), raw
        raise _refuse(
            "E_TXT_DATUM",
            f"文件头的转换参数“{raw}”无法使用：应为 7 个数值（ΔX,ΔY,ΔZ 米，旋转 εX,εY,εZ 角秒，尺度 ppm），"
            "或留空（保留 6 个逗号）。",
            f"The header's 转换参数 (transformation parameters) '{raw}' cannot be used: give 7 numbers "
            "(dX,dY,dZ in m, rotations rX,rY,rZ in arc-seconds, scale in ppm) or leave the slot empty.",
            转换参数=raw,
        )

    def header_zone(self) -> tuple[int | None, str]:
        raw = self.header.get("带号", "").strip()
        m = re.match(r"^(?:第)?\s*(\d{1,3})\s*(?:带)?$", raw)
        return (int(m.group(1)) if m else None), raw

    def resolve_crs(self, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
        """Decide axes, zone and CRS from the arguments, the header and the coordinates themselves."""
        xr = (float(X.min()), float(X.max()))
        yr = (float(Y.min()), float(Y.max()))
        if self.crs_arg is not None:
            return self.user_crs(X, Y)
        datum = self.datum()
        ll = _lonlat_order(xr, yr)
        if ll is not None:
            return self.lonlat_crs(X, Y, datum, swapped=ll)
        ok_std, zone_std = _gk_reading(xr, yr)
        ok_swp, zone_swp = _gk_reading(yr, xr)
        if ok_std:
            swapped, prefix_zone = False, zone_std
        elif ok_swp:
            swapped, prefix_zone = True, zone_swp
            self.warn("W_TXT_AXES_SWAPPED", None,
                      "文件中 X、Y 两列互换（第 3 列应为 X=北坐标，第 4 列为 Y=东坐标），已自动纠正。",
                      "The X and Y columns are swapped in the file (column 3 should be X = northing, column 4 "
                      "Y = easting); corrected.")
        else:
            raise _refuse(
                "E_TXT_COORDINATES_IMPLAUSIBLE",
                f"坐标不像中国境内的高斯-克吕格坐标：X 范围 {xr[0]:.3f}–{xr[1]:.3f}，Y 范围 {yr[0]:.3f}–{yr[1]:.3f}。"
                "X（北坐标）应在 30 万–610 万米之间；Y（东坐标）应在 10 万–90 万米之间，或带带号前缀（3° 带 25–45，"
                "6° 带 13–23，如 39567890.456），且全文件同一带。请检查坐标单位、列顺序和带号。",
                f"The coordinates do not look like Gauss–Krüger coordinates in China: X {xr[0]:.3f}–{xr[1]:.3f}, "
                f"Y {yr[0]:.3f}–{yr[1]:.3f}. X (northing) should be 0.3–6.1 million m; Y (easting) "
                "100,000–900,000 m or carry a zone prefix (3° zones 25–45, 6° zones 13–23, e.g. 39567890.456), "
                "one zone for the whole file. Check units, column order and zone.",
                x_range=list(xr), y_range=list(yr),
            )
        E, N = (X, Y) if swapped else (Y, X)
        zone, width, source = self.resolve_zone(prefix_zone)
        prefixed = prefix_zone is not None
        if datum == CGCS2000:
            params, raw = self.datum_params()
            if params is not None:
                self.warn("W_TXT_PARAMETERS_IGNORED", None,
                          f"坐标系为 CGCS2000，文件头中的转换参数“{raw}”未使用。",
                          f"The coordinate system is CGCS2000; the header's 转换参数 '{raw}' was not used.")
            crs = f"EPSG:{cgcs2000_gk_epsg(zone, width, prefixed)}"
        else:
            crs = self.old_datum_crs(datum, E, N, zone=zone, width=width, prefixed=prefixed)
        self.check_in_china(crs, E, N, datum)
        return {"crs": crs, "crs_source": source, "zone": zone, "zone_width": width, "prefixed": prefixed,
                "swapped": swapped, "E": E, "N": N, "geographic": False}

    def resolve_zone(self, prefix_zone: int | None) -> tuple[int, int, str]:
        width, width_explicit, width_raw = self.zone_width()
        hz, hz_raw = self.header_zone()
        if prefix_zone is not None:
            pw = 6 if gk_zone_in_china(prefix_zone, 6) else 3
            if width_explicit and width != pw:
                self.warn("W_TXT_ZONE_MISMATCH", None,
                          f"文件头几度分带为“{width_raw}”，但 Y 坐标的带号前缀 {prefix_zone} 属于 {pw}° 分带，按 {pw}° 带读取。",
                          f"The header says 几度分带 = '{width_raw}', but the Y prefix {prefix_zone} is a {pw}° zone; "
                          f"read as a {pw}° zone.")
            for given, what_zh, what_en in ((hz, "文件头带号", "the header's 带号"), (self.zone_arg, "指定的带号", "the given zone")):
                if given is not None and given != prefix_zone:
                    self.warn("W_TXT_ZONE_MISMATCH", None,
                              f"{what_zh} {given} 与 Y 坐标的带号前缀 {prefix_zone} 不一致，按前缀 {prefix_zone} 带读取。",
                              f"{what_en[0].upper()}{what_en[1:]} ({given}) differs from the Y coordinate prefix "
                              f"({prefix_zone}); zone {prefix_zone} from the prefix is used.")
            return prefix_zone, pw, "prefix"
        fix_zh = "请在 [属性描述] 中填写带号（如 带号=39），或在上传时指定带号或坐标系（如 EPSG:4548）。"
        fix_en = ("Fill in 带号 in [属性描述] (e.g. 带号=39), or give the zone or the CRS (e.g. EPSG:4548) "
                  "when uploading.")
        if width is None:
            raise _refuse(
                "E_TXT_ZONE_UNKNOWN",
                f"文件头的几度分带“{width_raw}”无法识别（应为 3 或 6），且 Y 坐标没有带号前缀，无法确定投影带。",
                f"The header's 几度分带 (zone width) '{width_raw}' is not 3 or 6 and the Y coordinates carry "
                "no zone prefix, so the projection zone cannot be determined.",
                几度分带=width_raw,
            )
        if hz is not None:
            zone, source = hz, "header"
            if self.zone_arg is not None and self.zone_arg != hz:
                self.warn("W_TXT_ZONE_MISMATCH", None,
                          f"指定的带号 {self.zone_arg} 与文件头带号 {hz} 不一致，按文件头带号读取。",
                          f"The given zone ({self.zone_arg}) differs from the header's 带号 ({hz}); the header "
                          "is used.")
        elif hz_raw:
            raise _refuse("E_TXT_ZONE_UNKNOWN",
                          f"文件头的带号“{hz_raw}”无法识别，且 Y 坐标没有带号前缀。" + fix_zh,
                          f"The header's 带号 '{hz_raw}' is not a zone number and the Y coordinates carry no "
                          "zone prefix. " + fix_en, 带号=hz_raw)
        elif self.zone_arg is not None:
            zone, source = int(self.zone_arg), "user"
        else:
            raise _refuse("E_TXT_ZONE_UNKNOWN",
                          "Y 坐标没有带号前缀（如 39567890.456 中的 39），文件头也没有填写带号，无法确定中央经线。" + fix_zh,
                          "The Y coordinates carry no zone prefix (like the 39 in 39567890.456) and the header "
                          "has no 带号, so the central meridian is unknown. " + fix_en)
        if not width_explicit and not gk_zone_in_china(zone, width) and gk_zone_in_china(zone, 6):
            width = 6
        if not gk_zone_in_china(zone, width):
            hint_zh = hint_en = ""
            if 72 <= zone <= 138:
                hint_zh = f"若 {zone} 是中央经线，3° 带号应为 {round(zone / 3)}，6° 带号应为 {round((zone + 3) / 6)}。"
                hint_en = (f" If {zone} is the central meridian, the 3° zone is {round(zone / 3)} and the 6° zone "
                           f"{round((zone + 3) / 6)}.")
            rng = "25–45" if width == 3 else "13–23"
            raise _refuse(
                "E_TXT_ZONE_UNKNOWN",
                f"带号 {zone} 不在中国境内 {width}° 分带的范围 {rng} 内。{hint_zh}" + fix_zh,
                f"Zone {zone} is outside the {width}° zones covering China ({rng}).{hint_en} " + fix_en,
                zone=zone, zone_width=width,
            )
        return zone, width, source

    def old_datum_crs(self, datum: str, E: np.ndarray, N: np.ndarray, *, zone: int | None, width: int,
                      prefixed: bool) -> str:
        """Xian 80 / Beijing 54: refuse, or build a CRS from the 7 parameters or the ellipsoid alone."""
        params, _raw = self.datum_params()
        name_zh, name_en = _DATUM_ZH[datum], _DATUM_EN[datum]
        if params is None and not self.accept_approx:
            raise _refuse(
                "E_TXT_DATUM",
                f"坐标系为{name_zh}。它与 2000国家大地坐标系之间没有公开的全国转换参数，直接套用会偏差数十到数百米。"
                "请在文件头“转换参数”中填写当地测绘主管部门提供的 7 参数，或先转换为 CGCS2000 后重新导出；"
                "如只需粗略筛查，可在上传时选择接受近似转换（偏差可达约 100 米）。",
                f"The coordinate system is {name_en}. There are no public nationwide parameters from it to "
                "CGCS2000, and reading it as CGCS2000 puts parcels tens to hundreds of metres off. Give the "
                "7 parameters from the local surveying authority in 转换参数, or convert to CGCS2000 and "
                "export again; for a rough screening you may accept an approximate conversion (up to ~100 m "
                "off).",
                datum=datum,
            )
        ellps = _DATUM_ELLPS[datum]
        if zone is None:
            proj = f"+proj=longlat +ellps={ellps} +no_defs"
        else:
            cm = _central_meridian(zone, width)
            fe = zone * 1_000_000 + 500_000 if prefixed else 500_000
            proj = f"+proj=tmerc +lat_0=0 +lon_0={cm} +k=1 +x_0={fe} +y_0=0 +ellps={ellps} +units=m +no_defs"
        if params is None:
            self.warn("W_TXT_DATUM_APPROXIMATE", None,
                      f"坐标系为{name_zh}，按用户要求只做椭球变换近似为 CGCS2000（未做基准转换），位置偏差可达约 100 米，"
                      "结果仅供粗略参考。",
                      f"The coordinate system is {name_en}; as requested it is approximated by an ellipsoid "
                      "change only (no datum shift) to CGCS2000. Positions can be off by about 100 m; use the "
                      "result for a rough screening only.")
            crs = proj
        else:
            towgs = ",".join(format(v, ".12g") for v in params)
            # PROJ ignores +towgs84 when the target is EPSG:4490 (it falls back to a ballpark offset via
            # WGS 84), so the parameters are bound to CGCS2000 itself in a WKT2 BoundCRS.
            src = CRS.from_user_input(proj)
            op = ToWGS84Transformation(src.geodetic_crs, *params)
            crs = BoundCRS(src, CRS.from_epsg(STORAGE_EPSG), op).to_wkt()
            self.warn("W_TXT_DATUM_PARAMETERS", None,
                      f"坐标系为{name_zh}，已用文件头的 7 参数（布尔莎/位置矢量，{towgs}）转换到 CGCS2000"
                      f"（{proj.replace(' +no_defs', '')} +towgs84={towgs}）。请确认参数来自当地测绘主管部门。",
                      f"The coordinate system is {name_en}; the header's 7 parameters (position vector Helmert, "
                      f"{towgs}) are used to reach CGCS2000 ({proj.replace(' +no_defs', '')} +towgs84={towgs}). "
                      "Make sure they come from the local surveying authority.")
        return crs

    def check_in_china(self, crs: str, E: np.ndarray, N: np.ndarray, datum: str) -> None:
        """One-point check that the chosen CRS puts the file in China (and that pyproj can use it)."""
        ce, cn = (float(E.min()) + float(E.max())) / 2, (float(N.min()) + float(N.max())) / 2
        try:
            lon, lat = transformer(crs, STORAGE_EPSG).transform(ce, cn)
        except Exception:  # pyproj raises several types for unusable definitions
            lon, lat = math.inf, math.inf
        if in_china(lon, lat):
            return
        if datum != CGCS2000:
            raise _refuse(
                "E_TXT_DATUM",
                "按文件头的坐标系和转换参数换算后，坐标不在中国境内，请检查转换参数。",
                "With the header's coordinate system and transformation parameters the coordinates fall "
                "outside China; check the parameters.",
                lon=lon, lat=lat,
            )
        raise _refuse(
            "E_TXT_COORDINATES_IMPLAUSIBLE",
            f"按 {crs} 换算后坐标中心位于经度 {lon:.4f}、纬度 {lat:.4f}，不在中国境内。请检查带号、坐标系和列顺序。",
            f"With {crs} the centre of the coordinates is at lon {lon:.4f}, lat {lat:.4f}, outside China. "
            "Check the zone, the coordinate system and the column order.",
            crs=crs, lon=lon, lat=lat,
        )

    def lonlat_crs(self, X: np.ndarray, Y: np.ndarray, datum: str, *, swapped: bool) -> dict[str, Any]:
        E, N = (X, Y) if swapped else (Y, X)
        order_zh = "经度,纬度" if swapped else "纬度,经度"
        order_en = "lon,lat" if swapped else "lat,lon"
        self.warn("W_TXT_LONLAT", None,
                  f"坐标为经纬度（{order_zh}，单位度），按 {_DATUM_ZH[datum]} 地理坐标读取；面积在所在 3° 带平面上计算。",
                  f"The coordinates are longitude/latitude in degrees ({order_en}), read as {_DATUM_EN[datum]} "
                  "geographic; areas are computed on the 3° Gauss–Krüger plane of each parcel.")
        width, _explicit, _raw = self.zone_width()
        if datum == CGCS2000:
            crs = f"EPSG:{STORAGE_EPSG}"
        else:
            crs = self.old_datum_crs(datum, E, N, zone=None, width=3, prefixed=False)
        self.check_in_china(crs, E, N, datum)
        return {"crs": crs, "crs_source": "guess", "zone": None, "zone_width": width or 3, "prefixed": False,
                "swapped": swapped, "E": E, "N": N, "geographic": True}

    def user_crs(self, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
        """The caller's CRS wins; only the axis order is decided here (by which reading lands in China)."""
        assert self.crs_arg is not None
        crs = f"EPSG:{self.crs_arg}" if self.crs_arg.isdigit() else self.crs_arg
        try:
            crs_obj = CRS.from_user_input(crs)
            tr = transformer(crs, STORAGE_EPSG)
        except Exception as exc:  # pyproj raises CRSError and others
            raise _refuse(
                "E_TXT_CRS_UNKNOWN",
                f"无法识别指定的坐标系“{self.crs_arg}”，请使用 EPSG 代码（如 EPSG:4527）或 PROJ/WKT 定义。",
                f"The given CRS '{self.crs_arg}' is not recognised; use an EPSG code (e.g. EPSG:4527) or a "
                "PROJ/WKT definition.",
                crs=self.crs_arg, reason=str(exc)[:200],
            ) from None
        geographic = bool(crs_obj.is_geographic)
        readings = [(False, Y, X), (True, X, Y)]
        if geographic and float(np.abs(X).max()) > 90:
            readings.reverse()  # X column cannot be a latitude
        chosen = None
        for swapped, E, N in readings:
            ce, cn = (float(E.min()) + float(E.max())) / 2, (float(N.min()) + float(N.max())) / 2
            try:
                lon, lat = tr.transform(ce, cn)
            except Exception:
                continue
            if in_china(lon, lat):
                chosen = (swapped, E, N)
                break
        if chosen is None:
            raise _refuse(
                "E_TXT_COORDINATES_IMPLAUSIBLE",
                f"按指定的坐标系 {crs} 换算后，坐标（无论 X、Y 顺序如何）都不在中国境内，请检查坐标系。",
                f"With the given CRS {crs} the coordinates fall outside China whichever way the X/Y columns "
                "are read; check the CRS.",
                crs=crs,
            )
        swapped, E, N = chosen
        if swapped:
            self.warn("W_TXT_AXES_SWAPPED", None,
                      "文件中 X、Y 两列互换（第 3 列应为 X=北坐标/纬度，第 4 列为 Y=东坐标/经度），已自动纠正。",
                      "The X and Y columns are swapped in the file (column 3 should be X = northing/latitude, "
                      "column 4 Y = easting/longitude); corrected.")
        width, _e, _r = self.zone_width()
        width = width or 3
        zone: int | None = None
        prefixed = False
        m = re.fullmatch(r"EPSG:(\d+)", crs.upper())
        code = int(m.group(1)) if m else None
        if code is not None and (found := gk_zone_of(code)) is not None:
            zone, width, prefixed = found
        elif not geographic:
            prefixed = float(E.min()) >= 1e7
            hz, _ = self.header_zone()
            zone = int(float(E.min()) // 1e6) if prefixed else (self.zone_arg if self.zone_arg is not None else hz)
        return {"crs": crs, "crs_source": "user", "zone": zone, "zone_width": width, "prefixed": prefixed,
                "swapped": swapped, "E": E, "N": N, "geographic": geographic}

    # -- geometry ---------------------------------------------------------------------------------

    def label(self, p: _RawParcel) -> tuple[str, str]:
        tag = p.fields[2] or p.fields[3]
        zh = f"第 {p.index} 个地块（{tag + '，' if tag else ''}第 {p.line} 行）"
        en = f"Parcel {p.index} ({tag + ', ' if tag else ''}line {p.line})"
        return zh, en

    def rings_of(self, p: _RawParcel, E: np.ndarray, N: np.ndarray) -> tuple[list[_Ring], int, int]:
        """Group rows by 圈号 (first-appearance order), close rings and reject degenerate ones."""
        lab_zh, lab_en = self.label(p)
        if p.end == p.start:
            raise _refuse("E_TXT_RING_DEGENERATE",
                          f"{lab_zh}没有任何坐标行。", f"{lab_en} has no point rows.", line=p.line, parcel=p.index)
        rid_list = self.rids[p.start:p.end]
        order = list(dict.fromkeys(rid_list))
        if len(order) == 1:
            groups = [(order[0], np.arange(p.start, p.end))]
        else:
            rarr = np.asarray(rid_list)
            groups = [(r, p.start + np.flatnonzero(rarr == r)) for r in order]
            for r, idx in groups:
                if idx[-1] - idx[0] + 1 != len(idx):
                    self.warn("W_TXT_RING_SPLIT", p.line,
                              f"{lab_zh}圈号 {r} 的坐标行不连续（被其他圈号的行隔开），已按圈号合并；"
                              "如果这里本应是另一个地块，请补上地块头行。",
                              f"{lab_en}, ring {r}: its point rows are not contiguous (other rings come in "
                              "between); they were joined by ring number. If a new parcel starts there, add its "
                              "header line.")
        rings: list[_Ring] = []
        closed_rows = auto_closed = 0
        for rid, idx in groups:
            if p.shape_type == "点":
                rings.append(_Ring(rid, idx, role="part"))
                continue
            x, y = E[idx], N[idx]
            if p.shape_type == "面":
                if len(idx) >= 2 and x[0] == x[-1] and y[0] == y[-1]:
                    closed_rows += 1
                else:
                    auto_closed += 1
                    idx = np.append(idx, idx[0])
                    x, y = E[idx], N[idx]
                    self.warn_closed(p, [rid])
            need = 3 if p.shape_type == "面" else 2
            dx, dy = x - x[0], y - y[0]
            d2 = dx * dx + dy * dy
            k = int(np.argmax(d2))
            scale = float(d2[k])
            collinear = scale == 0.0 or (
                need == 3 and float(np.max(np.abs(dx * dy[k] - dy * dx[k]))) <= 1e-9 * scale
            )
            if collinear:
                distinct = len(np.unique(np.column_stack((x, y)), axis=0))
                if distinct < need:
                    zh = f"{lab_zh}圈号 {rid} 只有 {distinct} 个不同的点，至少需要 {need} 个。"
                    en = f"{lab_en}, ring {rid} has only {distinct} distinct point(s); at least {need} are needed."
                else:
                    zh = f"{lab_zh}圈号 {rid} 的所有点在一条直线上，面积为零。"
                    en = f"{lab_en}, ring {rid}: all points lie on one straight line, so its area is zero."
                raise _refuse("E_TXT_RING_DEGENERATE", zh, en, line=p.line, parcel=p.index, ring=rid)
            ring = _Ring(rid, idx, role="part")
            if p.shape_type == "面":
                ring.signed_area = 0.5 * float(np.dot(dx[:-1], dy[1:]) - np.dot(dx[1:], dy[:-1]))
            rings.append(ring)
        return rings, closed_rows, auto_closed

    def warn_closed(self, p: _RawParcel, rids: list[int]) -> None:
        lab_zh, lab_en = self.label(p)
        for rid in rids:
            self.warn("W_TXT_RING_CLOSED", p.line,
                      f"{lab_zh}圈号 {rid} 的最后一点与首点不同（缺少闭合点），已自动闭合。",
                      f"{lab_en}, ring {rid}: the last point differs from the first (no closing point); the "
                      "ring was closed automatically.")

    def fast_rings(self, E: np.ndarray, N: np.ndarray) -> dict[int, tuple[list[_Ring], int, int]]:
        """Rings of all ordinary 面 parcels at once with numpy: closure, signed area, collinearity.

        A parcel whose ring rows are split, or with a ring that might be degenerate, is left to the
        per-parcel path (``rings_of``), which gives the exact check and the refusal message.
        """
        n, P = len(E), len(self.parcels)
        counts = np.fromiter((p.end - p.start for p in self.parcels), dtype=np.int64, count=P)
        pid = np.repeat(np.arange(P), counts)
        rid = np.asarray(self.rids, dtype=np.int64)
        brk = np.flatnonzero((pid[1:] != pid[:-1]) | (rid[1:] != rid[:-1])) + 1
        rs = np.concatenate(([0], brk))
        re_ = np.concatenate((brk, [n]))
        run_pid = pid[rs]
        closed = ((re_ - rs) >= 2) & (E[rs] == E[re_ - 1]) & (N[rs] == N[re_ - 1])
        add = ~closed
        ins = np.cumsum(add)
        new_s = rs + ins - add
        new_e = re_ + ins
        idx = np.insert(np.arange(n), re_[add], rs[add])
        lens = new_e - new_s
        first = np.repeat(idx[new_s], lens)
        dx, dy = E[idx] - E[first], N[idx] - N[first]
        t = np.zeros(len(idx))
        t[:-1] = dx[:-1] * dy[1:] - dx[1:] * dy[:-1]
        t[new_e - 1] = 0.0
        signed = 0.5 * np.add.reduceat(t, new_s)
        # collinear (or repeated) points give a singular scatter matrix; flag generously, check exactly later
        sx, sy = np.add.reduceat(dx, new_s), np.add.reduceat(dy, new_s)
        cxx = np.add.reduceat(dx * dx, new_s) - sx * sx / lens
        cyy = np.add.reduceat(dy * dy, new_s) - sy * sy / lens
        cxy = np.add.reduceat(dx * dy, new_s) - sx * sy / lens
        trace = cxx + cyy
        suspect = ~((trace > 0) & (cxx * cyy - cxy * cxy > 1e-12 * trace * trace))
        ok = np.array([p.shape_type == "面" for p in self.parcels])
        ok[run_pid[suspect]] = False
        runs_per = np.bincount(run_pid, minlength=P)
        first_run = np.concatenate(([0], np.cumsum(runs_per)[:-1]))
        out: dict[int, tuple[list[_Ring], int, int]] = {}
        rid_l, s_l, e_l, a_l, add_l = rid[rs].tolist(), new_s.tolist(), new_e.tolist(), signed.tolist(), add.tolist()
        for i in np.flatnonzero(ok).tolist():
            k0, k1 = int(first_run[i]), int(first_run[i] + runs_per[i])
            if k1 - k0 > 1 and len(set(rid_l[k0:k1])) != k1 - k0:
                continue  # a ring's rows are split: per-parcel path (warns)
            rings = [_Ring(rid_l[k], idx[s_l[k]:e_l[k]], signed_area=a_l[k], closed_here=add_l[k])
                     for k in range(k0, k1)]
            n_added = sum(add_l[k0:k1])
            out[i] = (rings, (k1 - k0) - n_added, n_added)
        return out

    def classify(self, p: _RawParcel, rings: list[_Ring], E: np.ndarray, N: np.ndarray) -> None:
        """圈号 1 (or the first ring) is the outer ring; others are holes if inside an outer ring/part."""
        first = next((r for r in rings if r.rid == 1), rings[0])
        first.role = "outer"
        if len(rings) == 1:
            return
        lab_zh, lab_en = self.label(p)
        done: list[tuple[_Ring, Polygon]] = [(first, Polygon(np.column_stack((E[first.idx], N[first.idx]))))]
        rest = sorted((r for r in rings if r is not first), key=lambda r: -abs(r.signed_area))
        for r in rest:
            x, y = E[r.idx], N[r.idx]
            best: tuple[_Ring, Polygon] | None = None
            for cand, poly in done:
                try:
                    inside = bool(np.all(shapely.intersects_xy(poly, x, y)))
                except Exception:  # GEOS on a badly broken ring: treat as not containing
                    inside = False
                if inside and (best is None or abs(cand.signed_area) < abs(best[0].signed_area)):
                    best = (cand, poly)
            if best is not None and best[0].role != "hole":
                r.role, r.parent = "hole", best[0].rid
            else:
                r.role = "part"
                where_zh = f"位于圈号 {best[0].rid}（内环）之内" if best is not None else f"不在圈号 {first.rid} 之内"
                where_en = f"lies inside ring {best[0].rid} (a hole)" if best is not None else \
                    f"is not inside ring {first.rid}"
                self.warn("W_TXT_RING_PART", p.line,
                          f"{lab_zh}圈号 {r.rid} {where_zh}，按多部件地块的独立一部分读取（不是扣除的内环）；"
                          "如应为内环，请检查坐标。",
                          f"{lab_en}, ring {r.rid} {where_en}; it was read as a separate part of a multi-part "
                          "parcel, not as a hole. Check the coordinates if it should be a hole.")
            done.append((r, Polygon(np.column_stack((x, y)))))

    def build(self, p: _RawParcel, rings: list[_Ring], E: np.ndarray, N: np.ndarray) -> BaseGeometry:
        if p.shape_type == "点":
            idx = np.concatenate([r.idx for r in rings])
            return MultiPoint(np.column_stack((E[idx], N[idx])))
        if p.shape_type == "线":
            lines = [LineString(np.column_stack((E[r.idx], N[r.idx]))) for r in rings]
            return lines[0] if len(lines) == 1 else MultiLineString(lines)
        polys = []
        for r in rings:
            if r.role == "hole":
                continue
            holes = [np.column_stack((E[h.idx], N[h.idx])) for h in rings if h.role == "hole" and h.parent == r.rid]
            polys.append(Polygon(np.column_stack((E[r.idx], N[r.idx])), holes))
        return polys[0] if len(polys) == 1 else MultiPolygon(polys)

    def check_count(self, p: _RawParcel, closed_rows: int, auto_closed: int) -> None:
        if p.declared_points is None:
            return
        rows = p.end - p.start
        if p.declared_points in (rows, rows - closed_rows, rows + auto_closed):
            return
        lab_zh, lab_en = self.label(p)
        self.warn("W_TXT_POINT_COUNT", p.line,
                  f"{lab_zh}声明界址点数为 {p.declared_points}，实际读到 {rows} 个坐标行（至下一个地块头行为止）。",
                  f"{lab_en} declares {p.declared_points} points but has {rows} point rows (read up to the "
                  "next parcel header).")

    def check_area(self, p: _RawParcel, area: float) -> None:
        """Compare 地块面积 (ha) with the computed area; recognise m² or 亩 written instead of ha."""
        if p.declared_area_ha is None or area <= 0:
            return
        d = p.declared_area_ha
        half_unit = 0.5 * 10.0 ** -(p.area_decimals or 0)
        lab_zh, lab_en = self.label(p)
        a_zh, a_en = _fmt_area(area)

        def close(value_m2: float, unit_m2: float) -> bool:
            return abs(value_m2 - area) <= max(self.area_tolerance * area, half_unit * unit_m2)

        if close(d * 10_000, 10_000):
            return
        for unit_m2, u_zh, u_en in ((1.0, "平方米", "m²"), (10_000 / 15, "亩", "mu")):
            if close(d * unit_m2, unit_m2):
                self.warn("W_TXT_AREA_UNIT", p.line,
                          f"{lab_zh}的地块面积 {d:g} 看起来是以{u_zh}而非公顷填写的（计算面积 {a_zh}）；地块面积应以公顷为单位。",
                          f"{lab_en}: the declared area {d:g} looks like {u_en}, not hectares (computed "
                          f"{a_en}); 地块面积 must be in hectares.")
                return
        diff = (d * 10_000 - area) / area
        self.warn("W_TXT_AREA_MISMATCH", p.line,
                  f"{lab_zh}声明面积 {d:g} 公顷（{d * 10_000:,.2f} 平方米），按坐标计算为 {a_zh}，相差 {diff:+.2%}。",
                  f"{lab_en} declares {d:g} ha ({d * 10_000:,.2f} m²) but its coordinates give {a_en}, a "
                  f"difference of {diff:+.2%}.")

    def run(self, data: bytes) -> JzdFile:
        text, encoding = _decode(data)
        self.read(text)
        if not self.has_coord_section:
            ln = self._data_in_header
            if ln is not None:
                what_zh = f"第 {ln} 行看起来是地块或坐标数据，但前面没有 [地块坐标] 节标记；"
                what_en = f"Line {ln} looks like parcel or point data but no [地块坐标] section marker precedes it. "
            elif self.header:
                what_zh, what_en = "文件只有文件头，没有坐标；", "The file has only a header and no coordinates. "
            else:
                what_zh = what_en = ""
            raise _refuse(
                "E_TXT_NO_COORDINATES",
                f"{what_zh}缺少 [地块坐标] 节。界址点坐标文件应包含 [属性描述] 和 [地块坐标] 两节，"
                "坐标数据写在 [地块坐标] 之后。",
                f"{what_en}The [地块坐标] section is missing: a 界址点 coordinate file needs an [属性描述] and a "
                "[地块坐标] section, with the coordinates after [地块坐标].",
                line=ln,
            )
        if not self.parcels:
            raise _refuse(
                "E_TXT_NO_PARCEL",
                "[地块坐标] 节中没有地块：每个地块以“界址点数,地块面积,地块编号,地块名称,面,图幅号,地块用途,地类编码,@”开头。",
                "The [地块坐标] section has no parcel: each parcel starts with a header line "
                "'point count,area,code,name,面,sheet,use,land class,@'.",
            )
        if not self.has_header_section:
            self.warn("W_TXT_NO_HEADER", None, "文件没有 [属性描述] 节，按宽松方式读取。",
                      "The file has no [属性描述] section; it was read leniently.")
        for p in self.parcels:
            if p.end == p.start:
                lab_zh, lab_en = self.label(p)
                raise _refuse("E_TXT_RING_DEGENERATE", f"{lab_zh}没有任何坐标行。", f"{lab_en} has no point rows.",
                              line=p.line, parcel=p.index)
        X = np.asarray(self.xs, dtype=float)
        Y = np.asarray(self.ys, dtype=float)
        info = self.resolve_crs(X, Y)
        E, N = info["E"], info["N"]
        fast = self.fast_rings(E, N)
        built: list[tuple[_RawParcel, list[_Ring], BaseGeometry | None]] = []
        for i, p in enumerate(self.parcels):
            self.line = p.line
            if i in fast:
                rings, closed_rows, auto_closed = fast[i]
                if auto_closed:
                    self.warn_closed(p, [r.rid for r in rings if r.closed_here])
            else:
                rings, closed_rows, auto_closed = self.rings_of(p, E, N)
            if p.shape_type == "面":
                self.classify(p, rings, E, N)
            else:
                for r in rings:
                    r.role = "part"
            self.check_count(p, closed_rows, auto_closed)
            simple = p.shape_type == "面" and len(rings) == 1
            built.append((p, rings, None if simple else self.build(p, rings, E, N)))
        built = _build_simple(built, E, N)
        areas = self.areas(built, info)
        parcels: list[JzdParcel] = []
        for (p, rings, geom), area in zip(built, areas):
            self.line = p.line
            if p.shape_type == "面" and p.declared_area_ha is not None and area > 0 and \
                    abs(p.declared_area_ha * 10_000 - area) > max(self.area_tolerance * area, 5_000 * 10.0 ** -(p.area_decimals or 0)):
                self.check_area(p, area)
            assert geom is not None
            f = p.fields
            parcels.append(JzdParcel(
                index=p.index, line=p.line, declared_points=p.declared_points, declared_area_ha=p.declared_area_ha,
                code=f[2] or None, name=f[3] or None, shape_type=p.shape_type, sheet=f[5] or None,
                use=f[6] or None, land_class=f[7] or None, extra=list(f[8:]), geometry=geom, area_m2=area,
                ring_roles={r.rid: r.role for r in rings},
            ))
        self.line = None
        return JzdFile(
            header=dict(self.header), crs=info["crs"], crs_source=info["crs_source"], zone=info["zone"],
            zone_width=info["zone_width"], prefixed=info["prefixed"], swapped=info["swapped"], encoding=encoding,
            parcels=parcels, warnings=self.finish_warnings(),
        )

    def areas(self, built: list[tuple[_RawParcel, list[_Ring], BaseGeometry | None]],
              info: dict[str, Any]) -> list[float]:
        """Planar areas; for lon/lat files on the CGCS2000 3° GK plane of each parcel (one transform per zone)."""
        out = [0.0] * len(built)
        if not info["geographic"]:
            for i, (p, rings, _g) in enumerate(built):
                if p.shape_type == "面":
                    out[i] = _rings_area(rings)
            return out
        E, N = info["E"], info["N"]
        by_epsg: dict[int, list[int]] = {}
        for i, (p, _rings, _g) in enumerate(built):
            if p.shape_type == "面":
                lon = (float(E[p.start:p.end].min()) + float(E[p.start:p.end].max())) / 2
                by_epsg.setdefault(gk3_epsg(lon), []).append(i)
        for epsg, members in by_epsg.items():
            px, py = transformer(info["crs"], epsg).transform(E, N)
            px, py = np.asarray(px), np.asarray(py)
            for i in members:
                rings = built[i][1]
                for r in rings:
                    dx, dy = px[r.idx] - px[r.idx[0]], py[r.idx] - py[r.idx[0]]
                    r.signed_area = 0.5 * float(np.dot(dx[:-1], dy[1:]) - np.dot(dx[1:], dy[:-1]))
                out[i] = _rings_area(rings)
        return out


def _build_simple(built: list[tuple[_RawParcel, list[_Ring], BaseGeometry | None]], E: np.ndarray,
                  N: np.ndarray) -> list[tuple[_RawParcel, list[_Ring], BaseGeometry | None]]:
    """Create all single-ring polygons in one vectorised shapely call (the common case)."""
    todo = [i for i, b in enumerate(built) if b[2] is None]
    if not todo:
        return built
    parts = [built[i][1][0].idx for i in todo]
    cat = np.concatenate(parts)
    ring_index = np.repeat(np.arange(len(parts)), [len(a) for a in parts])
    polys = shapely.polygons(shapely.linearrings(np.column_stack((E[cat], N[cat])), indices=ring_index))
    out = list(built)
    for i, poly in zip(todo, polys):
        p, rings, _ = out[i]
        out[i] = (p, rings, poly)
    return out


def _rings_area(rings: list[_Ring]) -> float:
    """Outer rings and parts minus holes, as GEOS computes a (Multi)Polygon's area."""
    area = sum(-abs(r.signed_area) if r.role == "hole" else abs(r.signed_area) for r in rings)
    return max(area, 0.0)  # only negative for broken (self-intersecting) rings; make_valid fixes those


def _lonlat_order(xr: tuple[float, float], yr: tuple[float, float]) -> bool | None:
    """None if not lon/lat in China; False for the usual lat,lon column order; True for lon,lat."""
    if 3 <= xr[0] and xr[1] <= 54 and 73 <= yr[0] and yr[1] <= 136:
        return False
    if 73 <= xr[0] and xr[1] <= 136 and 3 <= yr[0] and yr[1] <= 54:
        return True
    return None


def _gk_reading(nr: tuple[float, float], er: tuple[float, float]) -> tuple[bool, int | None]:
    """(plausible, prefix zone or None) for a (northing range, easting range) reading of GK in China."""
    if not (_NORTH_MIN <= nr[0] and nr[1] <= _NORTH_MAX):
        return False, None
    if er[0] >= 1e7 and er[1] < 1e8:
        z0, z1 = int(er[0] // 1e6), int(er[1] // 1e6)
        if z0 == z1 and (gk_zone_in_china(z0, 6) or gk_zone_in_china(z0)) and \
                _EAST_MIN <= er[0] - z0 * 1e6 and er[1] - z0 * 1e6 <= _EAST_MAX:
            return True, z0
        return False, None
    if _EAST_MIN <= er[0] and er[1] <= _EAST_MAX:
        return True, None
    return False, None


def parse_jzd_txt(data: bytes, *, crs: str | None = None, zone: int | None = None,
                  accept_datum_approximation: bool = False, area_tolerance: float = 0.005,
                  max_points: int = 200_000) -> JzdFile:
    """Parse a 界址点 coordinate TXT file; refuse with ``InputRefused`` (never another exception type)."""
    parser = _Parser(crs=crs, zone=zone, accept_datum_approximation=accept_datum_approximation,
                     area_tolerance=area_tolerance, max_points=max_points)
    try:
        with np.errstate(all="ignore"):  # absurd but finite numbers (1e300) must not print warnings
            return parser.run(bytes(data))
    except InputRefused:
        raise
    except Exception as exc:  # a bug or an input we did not foresee: still a clean refusal
        line = parser.line
        at_zh = f"第 {line} 行附近" if line else "文件"
        at_en = f"near line {line}" if line else "in the file"
        raise _refuse(
            "E_TXT_BAD_LINE",
            f"{at_zh}的内容无法解析（{type(exc).__name__}），请检查该处格式。",
            f"The content {at_en} could not be parsed ({type(exc).__name__}); check its format.",
            line=line, reason=str(exc)[:200],
        ) from exc
