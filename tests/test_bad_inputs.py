"""The bad-boundary corpus: every file is refused with its code and a 4xx, directly and over HTTP."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.domain.errors import EcoError
from app.ingest.boundary import read_boundary
from app.settings import PROJECT_ROOT, Settings

BAD = Path(__file__).parent / "data" / "bad"


def corpus() -> list[tuple[str, str, int]]:
    rows = []
    for listing in sorted(BAD.glob("expected_*.csv")):
        with open(listing, encoding="utf-8") as fh:
            rows += [(r["file"], r["code"], int(r["status"])) for r in csv.DictReader(fh)]
    return rows


CASES = corpus()


def test_corpus_is_large_and_every_file_is_listed():
    listed = {name for name, _, _ in CASES}
    present = {p.name for p in BAD.iterdir() if not p.name.startswith("expected_")}
    assert len(CASES) >= 40
    assert listed == present, listed ^ present


@pytest.mark.parametrize("name,code,status", CASES, ids=[c[0] for c in CASES])
def test_refused_directly(name: str, code: str, status: int):
    with pytest.raises(EcoError) as ei:
        read_boundary((BAD / name).read_bytes(), name)
    err = ei.value
    assert (err.code, err.status) == (code, status), err.message_en
    assert err.message_zh and err.message_en


@pytest.fixture(scope="module")
def client(tmp_path_factory, catalog):
    from app.store.embedded import EmbeddedStore

    tmp = tmp_path_factory.mktemp("bad")
    store = EmbeddedStore(tmp / "s.gpkg", catalog)
    settings = Settings(data_dir=tmp, layers_dir=PROJECT_ROOT / "layers")
    with TestClient(create_app(settings, store=store)) as c:
        yield c
    store.close()


@pytest.mark.parametrize("name,code,status", CASES, ids=[c[0] for c in CASES])
def test_refused_over_http(client, name: str, code: str, status: int):
    r = client.post("/api/footprints/preview", files={"file": (name, (BAD / name).read_bytes())})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message_zh"] and err["message_en"]
