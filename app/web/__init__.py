"""Pages' templates and static files, and where the map libraries installed from PyPI live.

No CDN: MapLibre GL JS comes from the PyPI package ``maplibre`` (its UMD build) and Leaflet from
``django-js-lib-leaflet``; the app serves both from the installed packages under ``/static/vendor``.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"

# vendor name -> (python package that ships it, directory inside the package)
VENDORS = {
    "maplibre": ("maplibre", "srcjs"),
    "leaflet": ("js_lib_leaflet", "static/js_lib_leaflet"),
}


@cache
def vendor_dir(name: str) -> Path:
    package, sub = VENDORS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package '{package}' that ships {name} is not installed (pip install -e .)")
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.is_dir():
        raise RuntimeError(f"{path} is missing: reinstall the package '{package}'")
    return path
