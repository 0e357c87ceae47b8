"""Attribute encoding of shapefiles: ``.cpg``, else the DBF language driver id, else detection.

Chinese agency shapefiles are very often GBK with no ``.cpg``; reading them as UTF-8 gives mojibake
that nobody notices until a report prints it.
"""

from __future__ import annotations

from pathlib import Path

# DBF language driver ids (byte 29) that name an encoding outright
_LDID = {
    0x4D: "GB18030",  # Chinese GBK (PRC), cp936
    0x7A: "GB18030",  # PRC GBK (ESRI)
    0x78: "CP950",  # Big5
    0x03: "CP1252",
    0x57: None,  # "ANSI": the writer's system code page, unknown
    0x00: None,
}
_CPG_ALIASES = {
    "UTF8": "UTF-8", "UTF-8": "UTF-8", "65001": "UTF-8",
    "GBK": "GB18030", "CP936": "GB18030", "936": "GB18030", "GB2312": "GB18030", "GB18030": "GB18030",
    "BIG5": "CP950", "CP950": "CP950",
    "ISO-8859-1": "ISO-8859-1", "LATIN1": "ISO-8859-1", "1252": "CP1252", "CP1252": "CP1252",
    "ANSI 936": "GB18030", "SYSTEM": None,
}


def shapefile_encoding(shp: Path) -> tuple[str, str]:
    """Return ``(encoding, source)`` with source ``cpg``, ``ldid`` or ``detected``."""
    for cpg in (shp.with_suffix(".cpg"), shp.with_suffix(".CPG")):
        if cpg.exists():
            text = cpg.read_bytes()[:64].decode("ascii", "ignore").strip().upper()
            enc = _CPG_ALIASES.get(text)
            if enc:
                return enc, "cpg"
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return "UTF-8", "detected"
    raw = dbf.read_bytes()
    if len(raw) > 29:
        enc = _LDID.get(raw[29])
        if enc:
            return enc, "ldid"
    header_len = int.from_bytes(raw[8:10], "little") if len(raw) >= 10 else 32
    return detect_encoding(raw[header_len:]), "detected"  # the records, not the field descriptors


def detect_encoding(data: bytes) -> str:
    """UTF-8 if the bytes decode as UTF-8, else GB18030 if they decode as that, else a best guess.

    Judged on the whole file: in a GBK file with few Chinese names, a stretch of it can be valid UTF-8
    (水 is CB AE in GBK, and that is UTF-8 too)."""
    if data.isascii():
        return "UTF-8"
    for enc, name in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
        try:
            data.decode(enc)
            return name
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    return (best.encoding if best else "GB18030").upper()
