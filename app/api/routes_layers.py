"""Layer catalog, version history, publishing and plain feature access."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile as StarletteUpload

from app.api.deps import get_catalog, get_store, require_admin, run_cpu
from app.domain.catalog import Catalog
from app.domain.errors import InputRefused
from app.domain.jsontext import refuse_unkeepable
from app.domain.models import Provenance, check_layer_id
from app.publishing import import_layer
from app.settings import Settings
from app.store.base import LayerStore, feature_not_found, version_not_found

router = APIRouter(prefix="/api/layers", tags=["layers"])

Store = Annotated[LayerStore, Depends(get_store)]
Cat = Annotated[Catalog, Depends(get_catalog)]


def kind_summary(catalog: Catalog, kind: str) -> dict[str, Any]:
    spec = catalog.kinds.get(kind)
    if spec is None:
        return {"id": kind}
    return {
        "id": spec.id, "name_zh": spec.name_zh, "name_en": spec.name_en, "part": spec.part,
        "geometry": spec.geometry, "style": spec.style,
        "attributes": {a.name: {"type": a.type, "zh": a.zh, **({"values": list(a.values)} if a.values else {})}
                       for a in spec.attributes.values()},
    }


@router.get("")
def list_layers(store: Store, catalog: Cat) -> dict[str, Any]:
    layers = []
    for info in store.list_layers():
        d = info.to_dict()
        d["style"] = catalog.kinds[info.kind].style if info.kind in catalog.kinds else None
        layers.append(d)
    return {"store": store.kind, "layers": layers}


@router.get("/{layer_id}")
def get_layer(layer_id: str, store: Store, catalog: Cat) -> dict[str, Any]:
    info = store.get_layer(layer_id)
    return {**info.to_dict(), "kind_spec": kind_summary(catalog, info.kind)}


@router.get("/{layer_id}/versions")
def list_versions(layer_id: str, store: Store) -> dict[str, Any]:
    return {"layer": layer_id, "versions": [v.to_dict() for v in store.list_versions(layer_id)]}


@router.get("/{layer_id}/versions/{version_id}")
def get_version(layer_id: str, version_id: str, store: Store) -> dict[str, Any]:
    v = store.get_version(version_id)
    if v.layer_id != layer_id:
        store.list_versions(layer_id)  # 404 for an unknown layer
        raise InputRefused("E_VERSION_NOT_FOUND", f"图层“{layer_id}”没有版本“{version_id}”",
                           f"Layer '{layer_id}' has no version '{version_id}'", status=404)
    return v.to_dict()


def _parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if not bbox:
        return None
    try:
        vals = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or not all(abs(v) <= 180 for v in vals) or vals[0] > vals[2] or vals[1] > vals[3]:
        raise InputRefused("E_BBOX_INVALID", "bbox 须为 minlon,minlat,maxlon,maxlat",
                           "bbox must be minlon,minlat,maxlon,maxlat", status=400, detail={"bbox": bbox})
    return vals  # type: ignore[return-value]


@router.get("/{layer_id}/features")
def layer_features(
    layer_id: str,
    store: Store,
    bbox: str | None = None,
    version: str | None = None,
    limit: Annotated[int, Query()] = 100,
    offset: Annotated[int, Query()] = 0,
    geometry: bool = True,
) -> dict[str, Any]:
    """``geometry=false`` gives each feature's bbox instead of its geometry (the viewer's region list)."""
    page = store.features(layer_id, version_id=version, bbox=_parse_bbox(bbox), limit=limit, offset=offset)
    return {
        "type": "FeatureCollection",
        "numberMatched": page.total,
        "numberReturned": len(page.features),
        "features": [
            {"type": "Feature", "id": f.id, "properties": f.attributes,
             "bbox": [round(v, 7) for v in f.geometry.bounds],
             "geometry": shapely.geometry.mapping(f.geometry) if geometry else None}
            for f in page.features
        ],
    }


@router.get("/{layer_id}/features/{fid}")
def layer_feature(layer_id: str, fid: int, store: Store, version: str | None = None,
                  geometry: bool = True) -> dict[str, Any]:
    """One feature with all its attributes (tiles leave long texts out; the map asks here on a click)."""
    v = store.get_version(version) if version else store.get_layer(layer_id).current
    if v is None or v.layer_id != layer_id:
        store.get_layer(layer_id)  # 404 for an unknown layer first
        raise version_not_found(version or layer_id)
    if not 0 <= fid < 2**31:
        raise feature_not_found(v.id, fid)
    f = store.feature(v.id, fid)
    return {"type": "Feature", "id": f.id, "properties": f.attributes, "version": v.id,
            "geometry": shapely.geometry.mapping(f.geometry) if geometry else None}


def _save_upload(upload: StarletteUpload, dest_dir: Path, max_bytes: int) -> Path:
    # only the suffix of the client's name is used: it picks the reader; the name itself is untrusted
    suffix = Path(upload.filename or "").suffix.lower()
    dest = dest_dir / ("upload" + (suffix if suffix.isascii() and len(suffix) <= 10 else ""))
    size = 0
    with open(dest, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise InputRefused("E_FILE_TOO_LARGE", f"文件超过 {max_bytes // (1 << 20)} MB 的上限",
                                   f"The file exceeds the {max_bytes // (1 << 20)} MB limit", status=413)
            out.write(chunk)
    return dest


@router.post("/{layer_id}/versions", status_code=201)
async def publish_version(
    layer_id: str,
    request: Request,
    admin: Annotated[str, Depends(require_admin)],
) -> JSONResponse:
    """Publish a version: multipart ``file`` + form ``kind`` (required), ``version``, ``source``, ``number``,
    ``authority``, ``effective`` (YYYY-MM-DD), ``sublayer``, ``encoding``, ``crs``.

    The body is read only after the admin key has been checked, so nobody can fill the disk unasked.
    """
    settings: Settings = request.app.state.settings
    catalog: Catalog = request.app.state.catalog
    check_layer_id(layer_id)
    max_bytes = settings.max_upload_mb << 20
    form = await request.form(max_part_size=max_bytes)
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload):
        raise InputRefused("E_FILE_MISSING", "缺少上传文件 file", "The upload has no file part")
    fields = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    # provenance is kept as text: no NUL, no lone surrogate (see jsontext)
    refuse_unkeepable(fields, "E_REQUEST_INVALID", "表单字段无法读取", "The form cannot be read")
    kind = fields.get("kind")
    if not kind:
        raise InputRefused("E_REQUEST_INVALID", "缺少图层类型 kind", "The form needs a kind")
    catalog.kind(kind)
    effective = None
    if fields.get("effective"):
        try:
            effective = date.fromisoformat(fields["effective"])
        except ValueError:
            raise InputRefused("E_REQUEST_INVALID", "effective 须为 YYYY-MM-DD 日期",
                               "effective must be a YYYY-MM-DD date") from None
    provenance = Provenance(label=fields.get("version"), source_document=fields.get("source"),
                            doc_number=fields.get("number"), authority=fields.get("authority"),
                            effective_date=effective, imported_by=admin)
    with tempfile.TemporaryDirectory(prefix="ecoredline-upload-") as tmp:
        path = _save_upload(upload, Path(tmp), max_bytes)
        store: LayerStore = request.app.state.store
        v = await run_cpu(request, import_layer, store, catalog, path, layer_id=layer_id, kind=kind,
                          provenance=provenance, sublayer=fields.get("sublayer"), encoding=fields.get("encoding"),
                          crs=fields.get("crs"), max_bytes=max_bytes * 4)
    return JSONResponse(v.to_dict(), status_code=201)
