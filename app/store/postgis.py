"""PostGIS store: psycopg 3 pool, binary ``COPY`` loads, subdivided pieces, atomic version switch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import shapely
from psycopg.rows import dict_row
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool
from shapely.geometry.base import BaseGeometry

from app.domain.catalog import Catalog
from app.domain.crs import STORAGE_EPSG
from app.domain.geometry import apart, degree_margin, ellipsoidal_areas, overlap_facts, subdivide
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
from app.domain.mvt import BUFFER, EXTENT
from app.domain.tilebands import band_for, generalise, tile_properties
from app.settings import Settings
from app.store import migrations
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
from app.store.pgwatch import CurrentVersions
from app.store.pieceindex import (
    WHOLE_MAX_PIECES,
    NoRoom,
    PieceIndex,
    PieceIndexCache,
    search_window,
    whole_candidates,
)

# a version row ``v``'s facts for geometry.apart, as jsonb: psycopg hands them over as Python values
_APART_SQL = "v.report->'features_overlap' AS overlap, v.report->'longest_edge_m' AS edge"
COPY_CHUNK = 2_000


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class PostgisStore:
    kind = "postgis"

    def __init__(self, url: str, catalog: Catalog, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(database_url=url)
        self.catalog = catalog
        self.url = url
        timeout = self.settings.statement_timeout_ms
        self.pool = ConnectionPool(
            url,
            min_size=self.settings.pool_min_size,
            max_size=self.settings.pool_max_size,
            kwargs={"options": f"-c statement_timeout={timeout}"},
            open=True,
            name="ecoredline",
        )
        self.pool.wait(timeout=30)
        self._bands_known: dict[str, bool] = {}
        self._piece_vertices: dict[str, int] = {}
        self._piece_need: dict[str, int] = {}  # what a version's pieces and wholes hold, once loaded
        self._pieces = PieceIndexCache(max_vertices=self.settings.piece_cache_vertices)
        with self.pool.connection() as conn:
            migrations.upgrade(conn)
        self._current = CurrentVersions(url, self._query_current_versions)

    def close(self) -> None:
        self._current.close()
        self.pool.close()

    # -- publishing ---------------------------------------------------------------------------
    def publish(
        self, layer_id: str, data: LayerData, provenance: Provenance, *, progress: Progress | None = None
    ) -> LayerVersion:
        check_layer_id(layer_id)
        self.catalog.kind(data.kind)
        note = progress or (lambda *_: None)
        n = len(data.geometries)
        bbox, vertices = data_summary(data)
        with self.pool.connection() as conn:
            row = conn.execute("SELECT kind FROM layer WHERE id = %s", (layer_id,)).fetchone()
        if row is not None and row[0] != data.kind:
            raise kind_mismatch(layer_id, row[0], data.kind)  # before any heavy work
        wkb = shapely.to_wkb(shapely.set_srid(data.geometries, STORAGE_EPSG), include_srid=True)
        areas = ellipsoidal_areas(data.geometries)
        # pieces are cut on the other core while the features stream in (ST_Subdivide in PostGIS 3.3 is
        # ~14× slower for the same result: see BENCHMARKS.md)
        with ThreadPoolExecutor(3) as bg, self.pool.connection() as conn, conn.transaction():
            pieces_job = bg.submit(subdivide, data.geometries, self.settings.subdivide_max_vertices)
            bands_job = bg.submit(generalise, data.geometries)
            facts_job = bg.submit(overlap_facts, data.geometries)
            conn.execute("INSERT INTO layer (id, kind) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                         (layer_id, data.kind))
            kind, seq = conn.execute(
                "UPDATE layer SET next_seq = next_seq + 1 WHERE id = %s RETURNING kind, next_seq - 1", (layer_id,)
            ).fetchone()
            if kind != data.kind:
                raise kind_mismatch(layer_id, kind, data.kind)
            vid = version_id(layer_id, seq)
            p = provenance
            conn.execute(
                "INSERT INTO layer_version (id, layer_id, seq, kind, label, source_document, doc_number, authority,"
                " effective_date, imported_by, notes, file_sha256, feature_count, vertex_count, bbox, report)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (vid, layer_id, seq, data.kind, p.label, p.source_document, p.doc_number, p.authority,
                 p.effective_date, p.imported_by, p.notes, data.report.file_sha256, n, vertices,
                 list(bbox) if bbox else None, json.dumps(data.report.to_dict(), ensure_ascii=False, default=str)),
            )
            with conn.cursor() as cur:
                # binary COPY: geometry's binary input is EWKB, so the WKB bytes go in as they are
                with cur.copy("COPY feature (version_id, fid, attributes, area_m2, geom, tile_props) FROM STDIN"
                              " (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "int4", "jsonb", "float8", "bytea", "jsonb"])
                    tile_attrs = []
                    for start in range(0, n, COPY_CHUNK):
                        stop = min(start + COPY_CHUNK, n)
                        for i in range(start, stop):
                            attrs = data.attributes[i]
                            lean = tile_properties(attrs)
                            text = _dumps(attrs if lean is None else lean)  # serialised once, written 1–7×
                            tile_attrs.append(Jsonb(None, dumps=lambda _o, t=text: t))
                            copy.write_row((vid, i, Jsonb(attrs, dumps=_dumps), float(areas[i]), wkb[i],
                                            None if lean is None else tile_attrs[-1]))
                        note("write", stop, n)
                note("subdivide", 0, 1)
                owner, pieces = pieces_job.result()
                note("subdivide", 1, 1)
                piece_wkb = shapely.to_wkb(shapely.set_srid(pieces, STORAGE_EPSG), include_srid=True)
                with cur.copy("COPY feature_piece (version_id, fid, geom) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "int4", "bytea"])
                    for f, g in zip(owner.tolist(), piece_wkb, strict=True):
                        copy.write_row((vid, f, g))
                note("pieces", 1, 1)
                bands = bands_job.result()
                with cur.copy("COPY feature_band (version_id, band, fid, geom, props) FROM STDIN (FORMAT BINARY)"
                              ) as copy:
                    copy.set_types(["text", "int2", "int4", "bytea", "jsonb"])
                    for band in bands:
                        band_wkb = shapely.to_wkb(shapely.set_srid(band.geoms, 3857), include_srid=True)
                        for f, g in zip(band.fids.tolist(), band_wkb, strict=True):
                            copy.write_row((vid, band.zoom, f, g, tile_attrs[f]))
                if bands:  # none for point layers: their tiles read the features at every zoom
                    conn.execute("UPDATE layer_version SET tile_bands = true WHERE id = %s", (vid,))
                note("bands", 1, 1)
            conn.execute("UPDATE layer_version SET report = report || %s::jsonb WHERE id = %s",
                         (json.dumps(facts_job.result()), vid))
            conn.execute("UPDATE layer SET current_version = %s WHERE id = %s", (vid, layer_id))
            note("switch", 1, 1)
        self._current.invalidate()  # committed: this process sees it at once, others by NOTIFY
        return self.get_version(vid)

    # -- catalog ------------------------------------------------------------------------------
    def list_layers(self) -> list[LayerInfo]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT l.id AS l_id, l.kind AS l_kind, (SELECT count(*) FROM layer_version c"
                f" WHERE c.layer_id = l.id) AS n, {VERSION_COLS} FROM layer l"
                " JOIN layer_version v ON v.id = l.current_version ORDER BY l.id"
            ).fetchall()
        return [layer_info(self.catalog, r) for r in rows]

    def get_layer(self, layer_id: str) -> LayerInfo:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT l.id AS l_id, l.kind AS l_kind, (SELECT count(*) FROM layer_version c"
                f" WHERE c.layer_id = l.id) AS n, {VERSION_COLS} FROM layer l"
                " JOIN layer_version v ON v.id = l.current_version WHERE l.id = %s",
                (layer_id,),
            ).fetchone()
        if row is None:
            raise layer_not_found(layer_id)
        return layer_info(self.catalog, row)

    def list_versions(self, layer_id: str) -> list[LayerVersion]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {VERSION_COLS} FROM layer_version v WHERE v.layer_id = %s ORDER BY v.seq", (layer_id,)
            ).fetchall()
        if not rows:
            raise layer_not_found(layer_id)
        return [version_from_row(r) for r in rows]

    def get_version(self, version_id: str) -> LayerVersion:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT {VERSION_COLS} FROM layer_version v WHERE v.id = %s",
                              (version_id,)).fetchone()
        if row is None:
            raise version_not_found(version_id)
        return version_from_row(row)


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
        vid = version_id or self.get_layer(layer_id).current.id  # type: ignore[union-attr]
        if version_id and self.get_version(version_id).layer_id != layer_id:
            raise version_not_found(version_id)
        where, params = "version_id = %s", [vid]
        if bbox is not None:
            where += " AND geom && ST_MakeEnvelope(%s,%s,%s,%s,4490) AND ST_Intersects(geom, ST_MakeEnvelope(%s,%s,%s,%s,4490))"
            params += [*bbox, *bbox]
        with self.pool.connection() as conn:
            total = conn.execute(f"SELECT count(*) FROM feature WHERE {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT fid, attributes, {'ST_AsBinary(geom)' if geometry else 'NULL'} FROM feature WHERE {where}"
                " ORDER BY fid LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
        feats = [Feature(feature_key(vid, r[0]), layer_id, vid, r[0], r[1], shapely.from_wkb(r[2]) if geometry else None)
                 for r in rows]
        return FeaturePage(feats, int(total), offset, limit)

    def feature(self, version_id: str, fid: int) -> Feature:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT v.layer_id, f.attributes, ST_AsBinary(f.geom) FROM feature f"
                " JOIN layer_version v ON v.id = f.version_id WHERE f.version_id = %s AND f.fid = %s",
                (version_id, fid),
            ).fetchone()
        if row is None:
            raise feature_not_found(version_id, fid)
        return Feature(feature_key(version_id, fid), row[0], version_id, fid, row[1], shapely.from_wkb(row[2]))

    # -- vector tiles ------------------------------------------------------------------------
    def _has_bands(self, version_id: str) -> bool:
        known = self._bands_known.get(version_id)
        if known is None:
            with self.pool.connection() as conn:
                row = conn.execute("SELECT tile_bands FROM layer_version WHERE id = %s", (version_id,)).fetchone()
            known = self._bands_known[version_id] = bool(row and row[0])  # versions never change
        return known

    def tile(self, version_id: str, z: int, x: int, y: int, layer_name: str) -> bytes:
        # ST_AsMVTGeom clips and snaps to the tile grid itself; an explicit ST_SimplifyPreserveTopology
        # first made low zooms 5× slower (measured: z5 690 ms → tipg's 124 ms). Low zooms read the
        # geometry generalised per zoom band at publish, already in Web Mercator. OFFSET 0 keeps the
        # planner from also evaluating ST_AsMVTGeom in the scan's filter (it did, doubling the cost).
        band = band_for(z)
        params = {"z": z, "x": x, "y": y, "m": BUFFER / EXTENT, "name": layer_name, "vid": version_id, "band": band}
        if band is not None and self._has_bands(version_id):
            rows = ("  SELECT t.fid, t.props, ST_AsMVTGeom(t.geom, b.env, 4096, 64, true) AS geom"
                    "   FROM b, feature_band t"
                    "   WHERE t.version_id = %(vid)s AND t.band = %(band)s AND t.geom && b.envm OFFSET 0")
        else:
            rows = ("  SELECT f.fid, COALESCE(f.tile_props, f.attributes) AS attributes,"
                    "   ST_AsMVTGeom(ST_Transform(f.geom, 3857), b.env, 4096, 64, true) AS geom"
                    "   FROM b, feature f"
                    "   WHERE f.version_id = %(vid)s AND f.geom && b.env4490 OFFSET 0")
        sql = ("WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,"
               " ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(m)s) AS envm,"
               " ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(m)s), 4490) AS env4490)"
               f" SELECT ST_AsMVT(q, %(name)s, 4096, 'geom', 'fid') FROM ({rows}) q WHERE q.geom IS NOT NULL")
        with self.pool.connection() as conn:
            row = conn.execute(sql, params).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    # -- screening records -------------------------------------------------------------------
    def save_screening(self, record: dict[str, Any], input_bytes: bytes | None) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO screening (id, created_at, verdict, input_sha256, record, input)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (record["id"], record["created_at"], record["verdict"], record.get("input_sha256"),
                 Json(record, dumps=_dumps), input_bytes),
            )

    def get_screening(self, screening_id: str) -> dict[str, Any]:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT record FROM screening WHERE id = %s", (screening_id,)).fetchone()
        if row is None:
            raise screening_not_found(screening_id)
        return row[0]

    def get_screening_input(self, screening_id: str) -> bytes | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT input FROM screening WHERE id = %s", (screening_id,)).fetchone()
        if row is None:
            raise screening_not_found(screening_id)
        return bytes(row[0]) if row[0] is not None else None

    # -- overlay candidates -------------------------------------------------------------------
    def current_versions(self) -> dict[str, tuple[str, str]]:
        return self._current.get()

    def _query_current_versions(self) -> dict[str, tuple[str, str]]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, kind, current_version FROM layer WHERE current_version IS NOT NULL")
            return {r[0]: (r[1], r[2]) for r in rows}

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
        if not targets:
            return []
        # versions whose pieces fit the budget are answered from memory (loaded once per process, like
        # the embedded store); the rest by a GiST query
        window = search_window(geometry, distance_m)
        out: list[Piece] = []
        rest: dict[str, tuple[str, str]] = {}
        for layer, (kind, vid) in sorted(targets.items()):
            idx = self._piece_index(vid)
            if idx is None:
                rest[layer] = (kind, vid)
            else:
                out += idx.query(layer, kind, vid, geometry, window, gk_epsg, self._pieces.room_for)
        if rest:
            out += self._sql_pieces(geometry, distance_m, rest)
        if distance_m > 0 and out and not window_only:  # one projection for every source's window candidates
            keep = near_mask([p.geometry for p in out], geometry, distance_m)
            out = [p for p, k in zip(out, keep) if k]
        return out

    def _piece_index(self, vid: str) -> PieceIndex | None:
        """The version's pieces in memory, or None: over the budget, or not a version (SQL answers).

        Kept by version id for the life of the process (versions never change): restart the workers
        after restoring or truncating the database, which can give an id to different data."""
        if self.settings.piece_cache_vertices <= 0:
            return None
        known = self._piece_vertices.get(vid)
        if known is None:
            with self.pool.connection() as conn:
                row = conn.execute("SELECT vertex_count FROM layer_version WHERE id = %s", (vid,)).fetchone()
            if row is None:
                return None  # not remembered: the version may yet be published
            known = self._piece_vertices[vid] = int(row[0])
        # pieces carry the cut points as well: ~10 % more vertices than the features; once loaded, what
        # the pieces and wholes held is known
        idx = self._held_index(vid, known + known // 10)
        if idx is None:
            # no room: versions no longer current (a layer re-published) give way to a current one; a
            # re-run as of an old version never pushes a current one out
            current = {v for _kind, v in self.current_versions().values()}
            if vid in current and self._pieces.evict(lambda key: key in current):
                idx = self._held_index(vid, known + known // 10)
        return idx

    def _held_index(self, vid: str, estimate: int) -> PieceIndex | None:
        """The version's index from the cache, loaded if it fits (None: no room, found out before or by
        loading)."""
        try:
            return self._pieces.get(vid, lambda: self._load_index(vid), estimate=self._piece_need.get(vid, estimate))
        except NoRoom:
            return None

    def _load_index(self, vid: str) -> PieceIndex:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT fid, ST_AsBinary(geom) FROM feature_piece WHERE version_id = %s"
                                " ORDER BY fid, ctid", (vid,)).fetchall()
            feats = conn.execute("SELECT fid, attributes, area_m2 FROM feature WHERE version_id = %s",
                                 (vid,)).fetchall()
            facts = conn.execute(f"SELECT {_APART_SQL} FROM layer_version v WHERE id = %s", (vid,)).fetchone()
        pieces = shapely.from_wkb([r[1] for r in rows]) if rows else np.zeros(0, dtype=object)
        piece_fid = np.array([r[0] for r in rows], dtype=np.int64)
        # with the wholes of its small features cut into a few pieces, or not at all: the SQL path hands
        # them out too, and a whole measures a hair differently from its pieces (the GK plane bends a lon/lat
        # edge at a cut point), so a version is measured the same in every worker whatever else it holds
        want, more = whole_candidates(pieces, piece_fid)
        held = int(shapely.get_num_coordinates(pieces).sum()) if len(pieces) else 0
        self._piece_need[vid] = held + more
        if not self._pieces.room_for(held + more):
            raise NoRoom(vid)
        wholes = {}
        if want:
            with self.pool.connection() as conn:
                kept = conn.execute("SELECT fid, ST_AsBinary(geom) FROM feature WHERE version_id = %s"
                                    " AND fid = ANY(%s)", (vid, sorted(want))).fetchall()
            wholes = dict(zip([r[0] for r in kept], shapely.from_wkb([r[1] for r in kept]))) if kept else {}
        return PieceIndex.build(pieces, piece_fid, {f: a for f, a, _ in feats}, {f: ar for f, _, ar in feats},
                                apart=facts is not None and apart(*facts), wholes=wholes)

    def _sql_pieces(self, geometry: BaseGeometry, distance_m: float,
                    targets: dict[str, tuple[str, str]]) -> list[Piece]:
        """Pieces of versions not held in memory: intersecting, or in the window of a distance search."""
        by_vid = {vid: (layer, kind) for layer, (kind, vid) in targets.items()}
        x0, y0, x1, y1 = geometry.bounds
        dlon, dlat = degree_margin(distance_m, max(abs(y0), abs(y1)))
        env = (x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat)
        wkb = shapely.to_wkb(geometry)
        # distances are tested in Python (``near_mask``, by the caller) on what the window returns
        test = "" if distance_m > 0 else " AND ST_Intersects(p.geom, ST_GeomFromWKB(%(g)s, 4490))"
        params: dict[str, Any] = {"g": wkb, "vids": list(by_vid), "x0": env[0], "y0": env[1], "x1": env[2],
                                  "y1": env[3]}
        # as from memory: a polygon feature cut into a few pieces, two or more of them found, comes whole
        # (its first row carries it, its other rows none), in the same round trip
        params["most"] = WHOLE_MAX_PIECES
        sql = (
            # (nested, so that each test runs only when the one before passed: the count stops at most + 1
            # pieces, and only a feature of that few pieces is read to learn its type)
            "SELECT h.version_id, h.fid, h.attributes, h.piece, h.area_m2, h.overlap, h.edge,"
            " CASE WHEN h.found > 1 THEN CASE WHEN (SELECT count(*) FROM (SELECT 1 FROM feature_piece q"
            "  WHERE q.version_id = h.version_id AND q.fid = h.fid LIMIT %(most)s + 1) c) <= %(most)s"
            "  THEN CASE WHEN GeometryType(h.feature) IN ('POLYGON', 'MULTIPOLYGON')"
            "  THEN CASE WHEN h.nth = 1 THEN ST_AsBinary(h.feature) ELSE ''::bytea END END END END"
            " FROM (SELECT p.version_id, p.fid, f.attributes, ST_AsBinary(p.geom) AS piece, f.area_m2,"
            f"  {_APART_SQL},"
            "  f.geom AS feature, count(*) OVER per_feature AS found, row_number() OVER per_feature AS nth"
            "  FROM feature_piece p"
            "  JOIN feature f ON f.version_id = p.version_id AND f.fid = p.fid"
            "  JOIN layer_version v ON v.id = p.version_id"
            "  WHERE p.version_id = ANY(%(vids)s) AND p.geom && ST_MakeEnvelope(%(x0)s,%(y0)s,%(x1)s,%(y1)s,4490)"
            + test +
            "  WINDOW per_feature AS (PARTITION BY p.version_id, p.fid)) h"
        )
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        rows = [r for r in rows if r[7] != b""]  # a whole's other pieces
        geoms = shapely.from_wkb([r[3] if r[7] is None else r[7] for r in rows]) if rows else []
        return [Piece(*by_vid[vid], vid, fid, attrs, g, area, None, apart(overlap, edge))
                for (vid, fid, attrs, _p, area, overlap, edge, _w), g in zip(rows, geoms)]
