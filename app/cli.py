"""The ``ecoredline`` command."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app import __version__
from app.domain.errors import EcoError, InputRefused
from app.domain.screening import ACTIONS
from app.settings import Settings, get_settings

EXIT_REFUSED = 2


def _fail(exc: EcoError) -> None:
    click.echo(f"错误 {exc.code}: {exc.message_zh}\nError {exc.code}: {exc.message_en}", err=True)
    if exc.detail:
        click.echo(json.dumps(exc.detail, ensure_ascii=False, default=str), err=True)
    sys.exit(EXIT_REFUSED)


class _Group(click.Group):
    """Turns every refusal into its bilingual message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EcoError as exc:
            _fail(exc)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="ecoredline")
def main() -> None:
    """EcoRedline 三线一单分区管控筛查服务 — 3-lines-1-list screening service."""


def _open_store(settings: Settings):
    from app.store import open_store

    return open_store(settings)


@main.command()
@click.option("--host", default=None, help="Bind address (default ECOREDLINE_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default ECOREDLINE_PORT or 8000).")
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API and pages."""
    import uvicorn

    s = get_settings()
    uvicorn.run("app.api.app:create_app", factory=True, host=host or s.host, port=port or s.port,
                workers=workers, log_level="info")


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--no-serve", is_flag=True, help="Create the demo layers and stop.")
def demo(host: str | None, port: int | None, no_serve: bool) -> None:
    """Create the illustrative demo layers (示意数据) if absent, then serve."""
    from app.demo_loader import ensure_demo

    s = get_settings()
    store = _open_store(s)
    try:
        created = ensure_demo(store, s, progress=lambda msg: click.echo(msg, err=True))
    finally:
        store.close()
    click.echo(f"示意数据图层 demo layers: {created} created" if created else "示意数据已存在 demo layers present",
               err=True)
    if not no_serve:
        import uvicorn

        base = f"http://{host or s.host}:{port or s.port}"
        click.echo(f"图层浏览 layer viewer: {base}/  ·  项目筛查 screening: {base}/screen  ·  API: {base}/api.html",
                   err=True)
        uvicorn.run("app.api.app:create_app", factory=True, host=host or s.host, port=port or s.port)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to the PostGIS store."""
    s = get_settings()
    if not s.database_url:
        click.echo("embedded store: nothing to migrate (ECOREDLINE_DATABASE_URL is unset)")
        return
    import psycopg

    from app.store import migrations

    with psycopg.connect(s.database_url) as conn:
        applied = migrations.upgrade(conn)
        click.echo(f"schema at version {migrations.current(conn)}; applied {applied or 'none'}")


@main.group()
def layers() -> None:
    """Layers: list and import."""


@layers.command("list")
@click.option("--json", "as_json", is_flag=True)
def layers_list(as_json: bool) -> None:
    """Layers with current version, feature count and source."""
    store = _open_store(get_settings())
    try:
        infos = store.list_layers()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{'layer':<22}{'kind':<20}{'version':<26}{'features':>9}  source")
    for i in infos:
        v = i.current
        src = (v.provenance.source_document or "") if v else ""
        click.echo(f"{i.id:<22}{i.kind:<20}{(v.id if v else '-'):<26}{(v.feature_count if v else 0):>9}  {src}")


@layers.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--layer", "layer_id", required=True, help="Layer id, e.g. eco_redline.")
@click.option("--kind", required=True, help="Layer kind from layers/catalog.yaml.")
@click.option("--version", "label", default=None, help="The agency's version name.")
@click.option("--source", default=None, help="Source document.")
@click.option("--number", default=None, help="Document number (文号).")
@click.option("--authority", default=None, help="Issuing authority.")
@click.option("--effective", default=None, type=click.DateTime(formats=["%Y-%m-%d"]), help="Effective date.")
@click.option("--sublayer", default=None, help="Layer inside a GeoPackage/zip.")
@click.option("--encoding", default=None, help="Override the attribute encoding (e.g. GBK).")
@click.option("--crs", default=None, help="CRS when the file has none (e.g. EPSG:4523).")
@click.option("--by", "imported_by", default=None, help="Who imports (default: $USER).")
def layers_import(file: Path, layer_id: str, kind: str, label: str | None, source: str | None,
                  number: str | None, authority: str | None, effective: Any, sublayer: str | None,
                  encoding: str | None, crs: str | None, imported_by: str | None) -> None:
    """Publish FILE as a new version of a layer."""
    import getpass

    from tqdm import tqdm

    from app.domain.catalog import load_catalog
    from app.domain.models import Provenance
    from app.publishing import import_layer

    s = get_settings()
    catalog = load_catalog(s.layers_dir)
    prov = Provenance(label=label, source_document=source, doc_number=number, authority=authority,
                      effective_date=effective.date() if effective else None,
                      imported_by=imported_by or getpass.getuser())
    bar = tqdm(total=100, unit="%", desc="import", file=sys.stderr, disable=None,
               bar_format="{desc:<24}{percentage:3.0f}%|{bar}| {elapsed}")
    stages = {"hash": 2, "read": 10, "crs": 20, "validate": 25, "transform": 35, "attributes": 40,
              "subdivide": 90}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "write":
            pct = 40 + int(45 * done / max(total, 1))
        else:
            pct = stages.get(stage, bar.n) + (5 if stage == "subdivide" and done else 0)
        bar.set_description_str(stage)
        bar.update(max(0, pct - bar.n))

    store = _open_store(s)
    try:
        v = import_layer(store, catalog, file, layer_id=layer_id, kind=kind, provenance=prov,
                         sublayer=sublayer, encoding=encoding, crs=crs, progress=progress)
    finally:
        bar.close()
        store.close()
    r = v.report
    click.echo(f"published {v.id}: {v.feature_count} features, {v.vertex_count} vertices, "
               f"CRS {r.get('crs_detected')} ({r.get('crs_source')}), encoding {r.get('encoding')} "
               f"({r.get('encoding_source')}); repaired {len(r.get('repaired', []))}, "
               f"dropped {len(r.get('dropped', []))}")
    for w in r.get("warnings", []):
        click.echo(f"  note: {w}")




EXIT_BY_VERDICT = {"allowed": 0, "conditional": 0, "restricted": 3, "prohibited": 4, "incomplete": 5}


def _attr(values: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; values are read as JSON where they parse (numbers, true/false), else as text."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{item}' is not k=v", param_hint="--attr")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:  # not JSON (JSONDecodeError), or a number past Python's digit limit: text
            out[key.strip()] = raw
    return out


def _boundary_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read a boundary file, shared by ``screen`` and ``overlay``."""
    for option in reversed([
        click.option("--crs", default=None, help="CRS of coordinates that carry none, e.g. EPSG:4544."),
        click.option("--zone", default=None, type=int, help="3° GK zone for eastings without a zone prefix."),
        click.option("--layer", default=None, help="DXF layer / GeoPackage table / zip member."),
        click.option("--encoding", default=None),
        click.option("--gcj02", is_flag=True, help="lon/lat come from a web map (GCJ-02)."),
        click.option("--accept-datum-approximation", is_flag=True, help="Read 西安80/北京54 without parameters."),
        click.option("--row-width-m", default=None, type=float,
                     help="Right-of-way width of a linear project drawn as lines: they are buffered to it."),
    ]):
        fn = option(fn)
    return fn


def _read_options(s: Any, boundary: dict[str, Any], facts: dict[str, Any] | None = None) -> Any:
    """``BoundaryOptions`` from ``_boundary_options``' values. A screening's project facts may say
    ``linear`` and ``row_width_m`` instead, as the API's ``project.attributes`` do (then both are needed,
    as there); ``--row-width-m`` says both at once and goes into the facts, so the record shows what
    the lines were buffered by."""
    from app.ingest.boundary import BoundaryOptions, limits, read_flag

    facts = {} if facts is None else facts
    width = boundary.pop("row_width_m")
    if width is not None:
        if not math.isfinite(width):
            raise InputRefused("E_REQUEST_INVALID", "--row-width-m 须为有限数值", "--row-width-m must be a finite number")
        if facts.get("row_width_m", width) != width:
            raise InputRefused("E_REQUEST_INVALID", "--row-width-m 与 --attr row_width_m 不一致",
                               "--row-width-m and --attr row_width_m disagree")
        facts.update(linear=True, row_width_m=width)
    return BoundaryOptions(**boundary, linear=read_flag(facts.get("linear")), row_width_m=facts.get("row_width_m"),
                           **limits(s))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--industry", required=True, help="GB/T 4754-2017 code, e.g. C2614 (a prefix is allowed).")
@click.option("--action", required=True, type=click.Choice(list(ACTIONS)))
@click.option("--name", default=None, help="Project name.")
@click.option("--attr", "attrs", multiple=True, help="Project fact k=v (repeatable), e.g. stack_height_m=60.")
@_boundary_options
@click.option("--json", "as_json", is_flag=True, help="Print the screening record as JSON.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a report: out.html, out.pdf, out.xlsx or out.geojson.")
@click.option("--lang", default="zh", type=click.Choice(["zh", "en"]), help="Language of the report.")
def screen(file: Path, industry: str, action: str, name: str | None, attrs: tuple[str, ...], as_json: bool,
           report_path: Path | None, lang: str, **boundary: Any) -> None:
    """Screen a boundary FILE; exit 0 allowed/conditional, 3 restricted, 4 prohibited, 5 incomplete, 2 refused."""
    from app.domain.screening import VERDICT_ZH, ProjectSpec
    from app.ingest.boundary import read_boundary
    from app.screening.setup import build_screener

    s = get_settings()
    if report_path is not None:
        from app.reports.files import check_report_path

        check_report_path(report_path)
    project_attrs = _attr(attrs)
    options = _read_options(s, boundary, project_attrs)
    project = ProjectSpec.parse({"name": name, "industry": industry, "action": action, "attributes": project_attrs})
    data = file.read_bytes()
    footprint = read_boundary(data, file.name, options)
    store = _open_store(s)
    try:
        record = build_screener(store, s).screen_and_keep(footprint, project, input_bytes=data, input_kind="file",
                                                           options=options)
        if report_path is not None:
            from app.domain.catalog import load_catalog
            from app.reports import illustrative_versions
            from app.reports.files import write_report

            demo = illustrative_versions(store, list(record["layer_versions"].values()), {})
            write_report(report_path, record, load_catalog(s.layers_dir), lang, demo)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2, default=str))
    else:
        fp = record["footprint"]
        click.echo(f"{record['id']}  {VERDICT_ZH[record['verdict']]} ({record['verdict']})")
        click.echo(f"  footprint: {fp['parts']} part(s), {fp['area_m2_gk']:,.1f} m² (GK EPSG:{fp['gk_epsg']}), "
                   f"CRS {fp['crs_detected']} ({fp['crs_source']})")
        for f in record["findings"]:
            if f["status"] == "access_list":
                continue
            click.echo(f"  [{f['verdict']:<11}] {f['level']:<10} {f['rule_id']}: {f['message_zh']}")
            cite = f["citation"]
            click.echo(f"      {cite['document']} {cite.get('number') or ''} {cite['clause']}")
    sys.exit(EXIT_BY_VERDICT[record["verdict"]])


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layers", "layer_ids", default=None, help="Layer ids, comma-separated (default: every layer).")
@click.option("--buffer-m", default=0.0, type=float, show_default=True,
              help="Also report features within this many metres (0: what the boundary touches).")
@_boundary_options
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the clipped pieces as GeoJSON to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the GeoJSON FeatureCollection.")
def overlay(file: Path, layer_ids: str | None, buffer_m: float, out_path: Path | None, as_json: bool,
            **boundary: Any) -> None:
    """Overlay a boundary FILE on the current layers (what ``POST /api/overlay`` answers); nothing is kept."""
    from app.ingest.boundary import read_boundary
    from app.reports.overlay_geojson import overlay_feature_collection
    from app.screening.overlay import overlay as run_overlay
    from app.screening.overlay_request import parse_buffer, parse_layers

    s = get_settings()
    distance = parse_buffer(buffer_m)
    footprint = read_boundary(file.read_bytes(), file.name, _read_options(s, boundary))
    store = _open_store(s)
    try:
        layers = parse_layers(layer_ids, set(store.current_versions()))
        collection = overlay_feature_collection(run_overlay(store, footprint, distance_m=distance, layers=layers),
                                                footprint)
    finally:
        store.close()
    text = json.dumps(collection, ensure_ascii=False, default=str)
    if out_path is not None:
        try:
            out_path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputRefused("E_REPORT_WRITE", f"无法写入 {out_path}：{exc.strerror}",
                               f"Cannot write {out_path}: {exc.strerror}") from None
    if as_json:
        click.echo(text)
        return
    fp = footprint.echo
    click.echo(f"footprint: {fp.parts} part(s), {fp.area_m2_gk:,.1f} m² (GK EPSG:{fp.gk_epsg}), within {distance:g} m")
    for f in collection["features"]:
        p = f["properties"]
        click.echo(f"  {p['layer']:<16} {p['feature_id']:<24} {(p['name'] or '')[:20]:<20} "
                   f"{p['area_m2']:>14,.1f} m²  {p['share_of_footprint']:>7.2%}  {p['distance_m']:>9,.1f} m")
    if not collection["features"]:
        click.echo("  (nothing)")
