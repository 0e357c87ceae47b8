#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite:
#   - Debian packages: PostGIS 3 for PostgreSQL 15 (pulls in the server), GDAL's command-line tools,
#     Chromium (the browser tests drive it headless; no browser download), a CJK font (pages and PDFs),
#     poppler (the PDF checks read text and fonts back), Pango (WeasyPrint lays out the PDF)
#   - a virtualenv (.venv) with the project and its test extras
#   - a throwaway PostGIS cluster on a spare port, torn down afterwards
# Arguments are passed to pytest (e.g. scripts/test.sh -k contract).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
pkgs=(postgresql-15-postgis-3 gdal-bin chromium fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "==> pip install -e .[test]"
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true

pgdir=$(mktemp -d /tmp/ecoredline-pg.XXXXXX)
trap 'scripts/pgcluster.sh stop "$pgdir"' EXIT
echo "==> starting a throwaway PostGIS cluster"
ECOREDLINE_TEST_DATABASE_URL=$(scripts/pgcluster.sh start "$pgdir")
export ECOREDLINE_TEST_DATABASE_URL ECOREDLINE_REQUIRE_POSTGIS=1
echo "    $ECOREDLINE_TEST_DATABASE_URL"

echo "==> ruff"
.venv/bin/ruff check app tests scripts
mkdir -p artifacts  # screenshots and a rendered report of the browser tests, for a person to look at
echo "==> pytest"
.venv/bin/python -m pytest "$@"
