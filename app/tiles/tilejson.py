"""TileJSON 3.0.0 for a layer version: absolute, versioned tile URLs so a re-published layer is never stale."""

from __future__ import annotations

import html
from typing import Any

from app.domain.catalog import LayerKind
from app.domain.models import LayerVersion
from app.domain.mvt import MAX_ZOOM
from app.tiles.cache import cache_key

_FIELD_TYPES = {"str": "String", "enum": "String", "int": "Number", "float": "Number", "bool": "Boolean"}


def tilejson(base_url: str, layer_id: str, version: LayerVersion, kind: LayerKind | None) -> dict[str, Any]:
    base = base_url.rstrip("/")
    p = version.provenance
    source = "；".join(x for x in (p.source_document, p.doc_number, p.authority) if x)
    x0, y0, x1, y1 = version.bbox or (73.0, 3.0, 136.0, 54.0)
    fields = {name: _FIELD_TYPES[a.type] for name, a in kind.attributes.items()} if kind else {}
    return {
        "tilejson": "3.0.0",
        "name": f"{kind.name_zh if kind else layer_id} {version.id}",
        "description": kind.name_en if kind else layer_id,
        "version": f"1.{version.seq}.0",
        "scheme": "xyz",
        # the stamp makes the URL differ whenever the tile content may (a rebuilt database, a new tile format)
        "tiles": [f"{base}/tiles/{layer_id}/{{z}}/{{x}}/{{y}}.mvt?v={version.id}&s={cache_key(version).rsplit('.', 1)[1]}"],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": [x0, y0, x1, y1],
        "center": [(x0 + x1) / 2, (y0 + y1) / 2, 8],
        "attribution": html.escape(f"{source} ({version.id})" if source else version.id),
        "vector_layers": [{"id": layer_id, "fields": fields, "minzoom": 0, "maxzoom": MAX_ZOOM,
                           "description": kind.name_zh if kind else layer_id}],
    }
