# EcoRedline service image. Debian 12 + Python 3.11, like the machines it is developed and tested on.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_ARENA_MAX=2 \
    ECOREDLINE_DATA_DIR=/var/lib/ecoredline ECOREDLINE_TILE_CACHE_DIR=/var/lib/ecoredline/tiles \
    ECOREDLINE_HOST=0.0.0.0 ECOREDLINE_PORT=8000

# fonts-noto-cjk: Chinese glyphs in pages and PDFs; Pango: WeasyPrint lays out report.pdf with it
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/ecoredline
COPY pyproject.toml README.md ./
COPY app ./app
COPY layers ./layers
COPY scripts ./scripts
RUN pip install --no-cache-dir -e . \
    && useradd --system --home /var/lib/ecoredline ecoredline \
    && mkdir -p /var/lib/ecoredline && chown ecoredline /var/lib/ecoredline

USER ecoredline
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "ecoredline db upgrade && exec ecoredline serve --workers ${ECOREDLINE_WORKERS:-2}"]
