"""Embedded store: one GeoPackage file, the same model as PostGIS, an in-memory STRtree per version.

The file is a valid GeoPackage 1.4 (QGIS and GDAL open ``er_feature`` and ``er_piece`` as layers,
filterable by ``version_id``). It is written with sqlite3 directly so that a whole publish —
version row, features, pieces and the switch of the current version — is one SQLite transaction:
readers (WAL mode) see the old version or the new one, and a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.domain.catalog import Catalog
from app.domain.crs import STORAGE_EPSG
from app.domain.geometry import apart, ellipsoidal_areas, from_crs, overlap_facts, subdivide
from app.domain.models import (
    Feature,
    FeaturePage,
    LayerData,
    LayerInfo,
    LayerVersion,
    Piece,
    Provenance,
    check_layer_id,
    feature_key,
    version_id,
)
from app.domain.mvt import BUFFER, EXTENT, tile_bounds_3857
from app.domain.mvt import encode as encode_mvt
from app.domain.tilebands import BANDS, band_for, simplify_band, tile_properties
from app.settings import Settings
from app.store.base import (
    BBox,
    Progress,
    clamp_page,
    feature_not_found,
    layer_not_found,
    screening_not_found,
    version_not_found,
)
from app.store.common import (
    VERSION_COLS,
    data_summary,
    kind_mismatch,
    layer_info,
    near_mask,
    resolve_versions,
    version_from_row,
)
from app.store.pieceindex import BuildOnceCache, PieceIndex, PieceIndexCache, search_window, whole_candidates

SCHEMA_VERSION = 1
_GPKG_APPLICATION_ID = 0x47504B47
_GPKG_USER_VERSION = 10300
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

_CGCS2000_WKT = (
    'GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,'
    '298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AUTHORITY["EPSG","4490"]]'
)
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)

_SCHEMA = f"""
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{_WGS84_WKT}', 'longitude/latitude coordinates in decimal degrees'),
  ('China Geodetic Coordinate System 2000', 4490, 'EPSG', 4490, '{_CGCS2000_WKT}', 'CGCS2000');
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE er_schema (version INTEGER NOT NULL);
INSERT INTO er_schema VALUES ({SCHEMA_VERSION});
CREATE TABLE er_layer (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, current_version TEXT, next_seq INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL);
CREATE TABLE er_layer_version (
  id TEXT PRIMARY KEY, layer_id TEXT NOT NULL REFERENCES er_layer(id), seq INTEGER NOT NULL,
  kind TEXT NOT NULL, label TEXT, source_document TEXT, doc_number TEXT, authority TEXT,
  effective_date TEXT, imported_by TEXT, notes TEXT, file_sha256 TEXT NOT NULL, imported_at TEXT NOT NULL,
  feature_count INTEGER NOT NULL, vertex_count INTEGER NOT NULL, bbox TEXT, report TEXT NOT NULL,
  UNIQUE (layer_id, seq));
CREATE TABLE er_feature (
  id INTEGER PRIMARY KEY AUTOINCREMENT, version_id TEXT NOT NULL REFERENCES er_layer_version(id),
  fid INTEGER NOT NULL, attributes TEXT NOT NULL, area_m2 DOUBLE NOT NULL, geom GEOMETRY,
  minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE, UNIQUE (version_id, fid));
CREATE TABLE er_piece (
  id INTEGER PRIMARY KEY AUTOINCREMENT, version_id TEXT NOT NULL, fid INTEGER NOT NULL, geom GEOMETRY);
CREATE INDEX er_piece_version ON er_piece (version_id);
INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES
  ('er_feature', 'features', 'er_feature', 'EcoRedline layer features, all versions', 4490),
  ('er_piece', 'features', 'er_piece', 'Subdivided pieces used by the overlay', 4490),
  ('er_layer', 'attributes', 'er_layer', 'EcoRedline layers', NULL),
  ('er_layer_version', 'attributes', 'er_layer_version', 'EcoRedline layer versions and provenance', NULL);
INSERT INTO gpkg_geometry_columns VALUES
  ('er_feature', 'geom', 'GEOMETRY', 4490, 0, 0),
  ('er_piece', 'geom', 'GEOMETRY', 4490, 0, 0);
"""



# screening records (schema 2): immutable rows, guarded by triggers
_SCREENING_SCHEMA = """
CREATE TABLE IF NOT EXISTS er_screening (
  id TEXT PRIMARY KEY, created_at TEXT NOT NULL, verdict TEXT NOT NULL, input_sha256 TEXT,
  record TEXT NOT NULL, input BLOB);
CREATE TRIGGER IF NOT EXISTS er_screening_no_update BEFORE UPDATE ON er_screening
  BEGIN SELECT RAISE(ABORT, 'screening records are immutable'); END;
CREATE TRIGGER IF NOT EXISTS er_screening_no_delete BEFORE DELETE ON er_screening
  BEGIN SELECT RAISE(ABORT, 'screening records are immutable'); END;
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
  VALUES ('er_screening', 'attributes', 'er_screening', 'EcoRedline screening records', NULL)
"""


def gpkg_blobs(geoms: np.ndarray) -> list[bytes]:
    """GeoPackage geometry blobs (header with XY envelope + ISO WKB, little endian)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    head = struct.Struct("<2sBBi4d")
    return [
        head.pack(b"GP", 0, 0x03, STORAGE_EPSG, b[0], b[2], b[1], b[3]) + w
        for w, b in zip(wkb, bounds, strict=True)
    ]


def from_gpkg_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    wkb = []
    for blob in blobs:
        flags = blob[3]
        wkb.append(blob[8 + _ENVELOPE_BYTES[(flags >> 1) & 0x07]:])
    return shapely.from_wkb(wkb)


class EmbeddedStore:
    kind = "embedded"

    def __init__(self, path: Path, catalog: Catalog, settings: Settings | None = None,
                 cache_versions: int = 64) -> None:
        self.path = Path(path)
        self.catalog = catalog
        self.settings = settings or Settings()
        self._local = threading.local()
        self._pieces = PieceIndexCache(max_versions=cache_versions)
        self._tiles = BuildOnceCache(max_items=cache_versions * (1 + len(BANDS)))  # features and bands
        self._cache_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_file()

    # -- connections ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @property
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
            with self._cache_lock:
                self._connections.append(con)
        return con

    def _init_file(self) -> None:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            exists = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='er_schema'"
            ).fetchone()
            if not exists:
                if con.execute("SELECT count(*) FROM sqlite_master WHERE name='gpkg_contents'").fetchone()[0]:
                    raise RuntimeError(f"{self.path} is a GeoPackage but not an EcoRedline store")
                for stmt in _split_sql(_SCHEMA):
                    con.execute(stmt)
                con.execute(f"PRAGMA application_id={_GPKG_APPLICATION_ID}")
                con.execute(f"PRAGMA user_version={_GPKG_USER_VERSION}")
            for stmt in _split_sql(_SCREENING_SCHEMA):
                con.execute(stmt)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every thread's connection (server threads each opened their own)."""
        with self._cache_lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()

    # -- publishing ---------------------------------------------------------------------------
    def publish(
        self, layer_id: str, data: LayerData, provenance: Provenance, *, progress: Progress | None = None
    ) -> LayerVersion:
        check_layer_id(layer_id)
        self.catalog.kind(data.kind)
        note = progress or (lambda *_: None)
        n = len(data.geometries)
        bbox, vertices = data_summary(data)
        note("subdivide", 0, 1)
        row = self._con.execute("SELECT kind FROM er_layer WHERE id = ?", (layer_id,)).fetchone()
        if row is not None and row[0] != data.kind:
            raise kind_mismatch(layer_id, row[0], data.kind)  # before any heavy work
        # everything heavy happens before the write lock, so screenings are never kept waiting
        with ThreadPoolExecutor(1) as bg:  # (GEOS lets go of the GIL)
            facts = bg.submit(overlap_facts, data.geometries)
            owner, pieces = subdivide(data.geometries, self.settings.subdivide_max_vertices)
            data = replace(data, report=replace(data.report, **facts.result()))
        note("subdivide", 1, 1)
        return self._write(layer_id, data, provenance, owner, pieces, note, n, bbox, vertices)

    def _write(self, layer_id: str, data: LayerData, provenance: Provenance, owner: np.ndarray,
               pieces: np.ndarray, note: Progress, n: int, bbox: Any, vertices: int) -> LayerVersion:
        feat_blobs = gpkg_blobs(data.geometries)
        piece_blobs = gpkg_blobs(pieces)
        areas = ellipsoidal_areas(data.geometries)
        fbounds = shapely.bounds(data.geometries)
        attrs = [json.dumps(a, ensure_ascii=False, default=str) for a in data.attributes]
        now = datetime.now(UTC)
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("INSERT OR IGNORE INTO er_layer (id, kind, created_at) VALUES (?, ?, ?)",
                        (layer_id, data.kind, now.isoformat()))
            kind, seq = con.execute("SELECT kind, next_seq FROM er_layer WHERE id = ?", (layer_id,)).fetchone()
            if kind != data.kind:
                raise kind_mismatch(layer_id, kind, data.kind)
            con.execute("UPDATE er_layer SET next_seq = next_seq + 1 WHERE id = ?", (layer_id,))
            vid = version_id(layer_id, seq)
            p = provenance
            con.execute(
                "INSERT INTO er_layer_version (id, layer_id, seq, kind, label, source_document, doc_number,"
                " authority, effective_date, imported_by, notes, file_sha256, imported_at, feature_count,"
                " vertex_count, bbox, report) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (vid, layer_id, seq, data.kind, p.label, p.source_document, p.doc_number, p.authority,
                 p.effective_date.isoformat() if p.effective_date else None, p.imported_by, p.notes,
                 data.report.file_sha256, now.isoformat(), n, vertices, json.dumps(bbox) if bbox else None,
                 json.dumps(data.report.to_dict(), ensure_ascii=False, default=str)),
            )
            step = 5_000
            for start in range(0, n, step):
                stop = min(start + step, n)
                con.executemany(
                    "INSERT INTO er_feature (version_id, fid, attributes, area_m2, geom, minx, miny, maxx, maxy)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    ((vid, i, attrs[i], float(areas[i]), feat_blobs[i], *fbounds[i]) for i in range(start, stop)),
                )
                note("write", stop, n)
            con.executemany(
                "INSERT INTO er_piece (version_id, fid, geom) VALUES (?,?,?)",
                ((vid, int(f), b) for f, b in zip(owner, piece_blobs, strict=True)),
            )
            con.execute("UPDATE er_layer SET current_version = ? WHERE id = ?", (vid, layer_id))
            self._update_extent(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            self._versions_changed()
        return self.get_version(vid)

    def _update_extent(self, con: sqlite3.Connection) -> None:
        row = con.execute("SELECT min(minx), min(miny), max(maxx), max(maxy) FROM er_feature").fetchone()
        for table in ("er_feature", "er_piece"):
            con.execute(
                "UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?,"
                " last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?",
                (*row, table),
            )

    # -- catalog ------------------------------------------------------------------------------
    def _layer_rows(self, layer_id: str | None = None) -> list[sqlite3.Row]:
        sql = (
            f"SELECT l.id AS l_id, l.kind AS l_kind, (SELECT count(*) FROM er_layer_version c"
            f" WHERE c.layer_id = l.id) AS n, {VERSION_COLS} FROM er_layer l"
            " JOIN er_layer_version v ON v.id = l.current_version"
        )
        params: tuple[Any, ...] = ()
        if layer_id is not None:
            sql += " WHERE l.id = ?"
            params = (layer_id,)
        cur = self._con.execute(sql + " ORDER BY l.id", params)
        return [_row(cur, r) for r in cur.fetchall()]

    def list_layers(self) -> list[LayerInfo]:
        return [layer_info(self.catalog, r) for r in self._layer_rows()]

    def get_layer(self, layer_id: str) -> LayerInfo:
        rows = self._layer_rows(layer_id)
        if not rows:
            raise layer_not_found(layer_id)
        return layer_info(self.catalog, rows[0])

    def list_versions(self, layer_id: str) -> list[LayerVersion]:
        cur = self._con.execute(
            f"SELECT {VERSION_COLS} FROM er_layer_version v WHERE v.layer_id = ? ORDER BY v.seq", (layer_id,)
        )
        rows = [_row(cur, r) for r in cur.fetchall()]
        if not rows:
            raise layer_not_found(layer_id)
        return [version_from_row(r) for r in rows]

    def get_version(self, version_id: str) -> LayerVersion:
        cur = self._con.execute(f"SELECT {VERSION_COLS} FROM er_layer_version v WHERE v.id = ?", (version_id,))
        row = cur.fetchone()
        if row is None:
            raise version_not_found(version_id)
        return version_from_row(_row(cur, row))


    # -- features -----------------------------------------------------------------------------
    def features(
        self,
        layer_id: str,
        *,
        version_id: str | None = None,
        bbox: BBox | None = None,
        limit: int = 100,
        offset: int = 0,
        geometry: bool = True,
    ) -> FeaturePage:
        limit, offset = clamp_page(limit, offset)
        if version_id is None:
            vid = self.get_layer(layer_id).current.id  # type: ignore[union-attr]
        else:
            if self.get_version(version_id).layer_id != layer_id:
                raise version_not_found(version_id)
            vid = version_id
        con = self._con
        if bbox is None:
            total = con.execute("SELECT count(*) FROM er_feature WHERE version_id = ?", (vid,)).fetchone()[0]
            rows = con.execute(
                f"SELECT fid, attributes, {'geom' if geometry else 'NULL'} FROM er_feature WHERE version_id = ?"
                " ORDER BY fid LIMIT ? OFFSET ?",
                (vid, limit, offset),
            ).fetchall()
            geoms = from_gpkg_blobs([r[2] for r in rows]) if rows and geometry else [None] * len(rows)
        else:
            x0, y0, x1, y1 = bbox
            cand = con.execute(
                "SELECT fid, attributes, geom FROM er_feature WHERE version_id = ? AND maxx >= ? AND minx <= ?"
                " AND maxy >= ? AND miny <= ? ORDER BY fid",
                (vid, x0, x1, y0, y1),
            ).fetchall()
            g = from_gpkg_blobs([r[2] for r in cand]) if cand else np.zeros(0, dtype=object)
            hit = shapely.intersects(g, shapely.box(x0, y0, x1, y1)) if len(g) else np.zeros(0, dtype=bool)
            matched = [(r, gg) for r, gg, h in zip(cand, g, hit, strict=True) if h]
            total = len(matched)
            page = matched[offset:offset + limit]
            rows = [r for r, _ in page]
            geoms = [gg if geometry else None for _, gg in page]
        feats = [
            Feature(feature_key(vid, r[0]), layer_id, vid, r[0], json.loads(r[1]), g)
            for r, g in zip(rows, geoms, strict=True)
        ]
        return FeaturePage(feats, int(total), offset, limit)

    def feature(self, version_id: str, fid: int) -> Feature:
        row = self._con.execute(
            "SELECT v.layer_id, f.attributes, f.geom FROM er_feature f JOIN er_layer_version v"
            " ON v.id = f.version_id WHERE f.version_id = ? AND f.fid = ?",
            (version_id, fid),
        ).fetchone()
        if row is None:
            raise feature_not_found(version_id, fid)
        return Feature(feature_key(version_id, fid), row[0], version_id, fid, json.loads(row[1]),
                       from_gpkg_blobs([row[2]])[0])

    # -- vector tiles ------------------------------------------------------------------------
    def _tile_index(self, vid: str) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], shapely.STRtree]:
        """A version's features in Web Mercator under an STRtree (immutable, so cached)."""
        return self._tiles.get(f"tiles:{vid}", lambda: self._load_tile_index(vid))

    def _load_tile_index(self, vid: str) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], shapely.STRtree]:
        rows = self._con.execute("SELECT fid, attributes, geom FROM er_feature WHERE version_id = ? ORDER BY fid",
                                 (vid,)).fetchall()
        fids = np.array([r[0] for r in rows], dtype=np.int64)
        geoms = from_gpkg_blobs([r[2] for r in rows]) if rows else np.zeros(0, dtype=object)
        merc = from_crs(geoms, STORAGE_EPSG, 3857) if len(geoms) else geoms
        props = [json.loads(r[1]) for r in rows]
        props = [p if (lean := tile_properties(p)) is None else lean for p in props]  # long texts stay out
        return fids, merc, props, shapely.STRtree(merc)

    def _tile_band(self, vid: str, zoom: int) -> tuple[np.ndarray, np.ndarray, shapely.STRtree]:
        """A version's features generalised for a zoom band (app/domain/tilebands.py), built on first use."""
        return self._tiles.get(f"band:{vid}:{zoom}", lambda: self._load_tile_band(vid, zoom))

    def _load_tile_band(self, vid: str, zoom: int) -> tuple[np.ndarray, np.ndarray, shapely.STRtree]:
        fids, merc, _props, tree = self._tile_index(vid)
        if len(merc) and np.all(shapely.get_dimensions(merc) == 0):
            return np.arange(len(fids)), merc, tree  # points: nothing to generalise
        band = simplify_band(merc, np.arange(len(fids), dtype=np.int64), zoom)
        return band.fids, band.geoms, shapely.STRtree(band.geoms)

    def tile(self, version_id: str, z: int, x: int, y: int, layer_name: str) -> bytes:
        fids, merc, props, tree = self._tile_index(version_id)
        band = band_for(z)
        rows = np.arange(len(fids))
        if band is not None:
            rows, merc, tree = self._tile_band(version_id, band)
        b = tile_bounds_3857(z, x, y)
        pad = (b[2] - b[0]) * BUFFER / EXTENT
        cand = np.sort(tree.query(shapely.box(b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)))
        return encode_mvt(layer_name, fids[rows[cand]], merc[cand], [props[i] for i in rows[cand]], z, x, y,
                          simplify=band is None)

    # -- screening records -------------------------------------------------------------------
    def save_screening(self, record: dict[str, Any], input_bytes: bytes | None) -> None:
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                "INSERT INTO er_screening (id, created_at, verdict, input_sha256, record, input) VALUES (?,?,?,?,?,?)",
                (record["id"], record["created_at"], record["verdict"], record.get("input_sha256"),
                 json.dumps(record, ensure_ascii=False, default=str), input_bytes),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def get_screening(self, screening_id: str) -> dict[str, Any]:
        row = self._con.execute("SELECT record FROM er_screening WHERE id = ?", (screening_id,)).fetchone()
        if row is None:
            raise screening_not_found(screening_id)
        return json.loads(row[0])

    def get_screening_input(self, screening_id: str) -> bytes | None:
        row = self._con.execute("SELECT input FROM er_screening WHERE id = ?", (screening_id,)).fetchone()
        if row is None:
            raise screening_not_found(screening_id)
        return bytes(row[0]) if row[0] is not None else None

    # -- overlay candidates -------------------------------------------------------------------
    def _index(self, vid: str) -> PieceIndex:
        return self._pieces.get(vid, lambda: self._load_index(vid))

    def _load_index(self, vid: str) -> PieceIndex:
        con = self._con
        rows = con.execute("SELECT fid, geom FROM er_piece WHERE version_id = ? ORDER BY id", (vid,)).fetchall()
        pieces = from_gpkg_blobs([r[1] for r in rows]) if rows else np.zeros(0, dtype=object)
        piece_fid = np.array([r[0] for r in rows], dtype=np.int64)
        attrs, areas = {}, {}
        for fid, text, area in con.execute("SELECT fid, attributes, area_m2 FROM er_feature WHERE version_id = ?",
                                           (vid,)):
            attrs[fid], areas[fid] = json.loads(text), area
        want, _ = whole_candidates(pieces, piece_fid)  # (no budget here: the embedded store holds every version)
        kept = con.execute("SELECT fid, geom FROM er_feature WHERE version_id = ? AND geom IS NOT NULL"
                           " AND fid IN (SELECT value FROM json_each(?))", (vid, json.dumps(sorted(want)))).fetchall() \
            if want else []
        wholes = dict(zip([r[0] for r in kept], from_gpkg_blobs([r[1] for r in kept]))) if kept else {}
        overlap, longest = con.execute(
            "SELECT json_extract(report, '$.features_overlap'), json_extract(report, '$.longest_edge_m')"
            " FROM er_layer_version WHERE id = ?", (vid,)).fetchone() or (None, None)
        flag = {0: False, 1: True}  # (json_extract gives JSON booleans as 0 and 1)
        return PieceIndex.build(pieces, piece_fid, attrs, areas, apart=apart(flag.get(overlap), longest),
                                wholes=wholes)

    def current_versions(self) -> dict[str, tuple[str, str]]:
        """Kept per connection while SQLite's ``data_version`` says no other connection has committed (a
        third of the query's cost); this connection's own publishes drop it (``_versions_changed``)."""
        con = self._con
        seen = con.execute("PRAGMA data_version").fetchone()[0]
        known = getattr(self._local, "versions", None)
        if known is not None and known[0] == seen:
            return dict(known[1])
        rows = con.execute("SELECT id, kind, current_version FROM er_layer WHERE current_version IS NOT NULL")
        versions = {r[0]: (r[1], r[2]) for r in rows}
        self._local.versions = (seen, versions)
        return dict(versions)

    def _versions_changed(self) -> None:
        self._local.versions = None

    def candidate_pieces(
        self,
        geometry: BaseGeometry,
        *,
        layers: Sequence[str] | None = None,
        distance_m: float = 0.0,
        versions: dict[str, str] | None = None,
        resolved: dict[str, tuple[str, str]] | None = None,
        window_only: bool = False,
        gk_epsg: int | None = None,
    ) -> list[Piece]:
        targets = resolved if resolved is not None else resolve_versions(
            self.current_versions(), layers, versions, self.get_version)
        out: list[Piece] = []
        if not targets:
            return out
        window = search_window(geometry, distance_m)
        for layer, (kind, vid) in sorted(targets.items()):
            out += self._index(vid).query(layer, kind, vid, geometry, window, gk_epsg)
        if distance_m > 0 and out and not window_only:  # one projection for every layer's window candidates
            keep = near_mask([p.geometry for p in out], geometry, distance_m)
            out = [p for p, k in zip(out, keep) if k]
        return out

def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


def _row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}
