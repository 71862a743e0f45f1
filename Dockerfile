# The warcflow image used by docker-compose.yml (production shape).
# chromium: browser captures (WARCFLOW_BROWSER_EXECUTABLE=/usr/bin/chromium, driven by
# Playwright; no Playwright-bundled browser is downloaded); the fonts render posts' text.
# vpdq and pdqhash (perceptual hashes) have no wheels on PyPI: they are built from source
# against FFmpeg's headers, and the compilers and headers removed again after the install.
# pango (with harfbuzz, fontconfig, glib), pangoft2, harfbuzz-subset, fonts-dejavu-core:
# `warcflow report` (WeasyPrint, archivers/export/pdf.py, opens them with dlopen; the court
# pack is set in DejaVu), as infra/system-deps.sh installs them for the tests.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates chromium \
      fonts-liberation fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY warcflow ./warcflow
COPY streams ./streams
COPY archivers ./archivers
COPY viewer ./viewer
COPY infra ./infra
RUN build="g++ cmake pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      libswresample-dev libavdevice-dev libavfilter-dev" \
 && apt-get update && apt-get install -y --no-install-recommends $build \
 && pip install --no-cache-dir . \
 && apt-get purge -y --auto-remove $build && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/warcflow warcflow \
 && mkdir -p /var/lib/warcflow && chown warcflow /var/lib/warcflow
USER warcflow
ENTRYPOINT ["warcflow"]
CMD ["--help"]
