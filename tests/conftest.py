"""Fixtures: both stores (a real PostGIS from the test command, and the embedded GeoPackage)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from app.domain.catalog import Catalog, load_catalog
from app.settings import PROJECT_ROOT, Settings

# In CI the property tests try the same examples every run (derandomised), so a failure found by chance
# cannot block an unrelated submission; explore locally with more, random examples (e.g. FUZZ_EXAMPLES=300
# for the API fuzzing) and add what fails as an example or a plain test.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")

PG_URL = os.environ.get("ECOREDLINE_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("ECOREDLINE_REQUIRE_POSTGIS") == "1" or os.environ.get("CI") == "true"
STORES = ["embedded", "postgis"]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(PROJECT_ROOT / "layers")


@pytest.fixture(scope="session")
def pg_url() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("ECOREDLINE_TEST_DATABASE_URL is not set: run the suite through scripts/test.sh")
        pytest.skip("no PostGIS: run the suite through scripts/test.sh")
    return PG_URL


def reset_postgis(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('layer')").fetchone()[0]
        if exists:
            conn.execute("TRUNCATE feature_piece, feature, layer_version, layer CASCADE")


def make_store(which: str, tmp_path: Path, catalog: Catalog, settings: Settings | None = None):
    if which == "embedded":
        from app.store.embedded import EmbeddedStore

        return EmbeddedStore(tmp_path / "store.gpkg", catalog, settings)
    from app.store.postgis import PostgisStore

    url = PG_URL or ""
    reset_postgis(url)
    return PostgisStore(url, catalog, settings or Settings(database_url=url))


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgis":
        request.getfixturevalue("pg_url")
    return request.param


@pytest.fixture
def store(store_kind: str, tmp_path: Path, catalog: Catalog) -> Iterator:
    st = make_store(store_kind, tmp_path, catalog)
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def client(store, tmp_path: Path):
    """The app on the scenario world of ``tests/test_screening.py`` (admin square, a river at x = 2,000 m,
    a redline square, two water-source zones) with the test rules; modules with other needs define
    their own ``client``."""
    from fastapi.testclient import TestClient

    from app.api.app import create_app
    from tests.test_screening import RULES, build_world

    build_world(store)
    settings = Settings(data_dir=tmp_path, layers_dir=PROJECT_ROOT / "layers", rules_dir=RULES)
    with TestClient(create_app(settings, store=store)) as c:
        yield c
