# syntax=docker/dockerfile:1
# One image for every Trellis process of docker-compose.yml (web, worker, beat, docs-builder), built from the
# wheel: what runs here is exactly what `pip install trellis-*.whl` installs (tests/test_packaging.py installs
# the same wheel outside the checkout and uses it). Three stages:
#   assets:  the front-end vendor files from package-lock.json (scripts/build-assets, npm ci)
#   wheel:   the wheel, carrying templates, static and vendor files, schemas and poms
#   runtime: a slim Python with the wheel installed, running as an unprivileged user

FROM node:22.12.0-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/build-assets scripts/build-assets
RUN scripts/build-assets

FROM python:3.11.11-slim-bookworm AS wheel
WORKDIR /src
COPY . .
COPY --from=assets /src/app/static/vendor app/static/vendor
RUN pip install --no-cache-dir build==1.2.2.post1 \
    && python -m build --wheel --outdir /wheels .

FROM python:3.11.11-slim-bookworm AS runtime
# git: ingest clones and fetches catalog repositories
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git=1:2.39.* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 trellis \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin trellis
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER 10001:10001
WORKDIR /home/trellis
# state (dev secret key, beat schedule) and caches (git clones, TechDocs sites) outside site-packages
ENV TRELLIS_STATE_DIR=/home/trellis/state \
    TRELLIS_CACHE=/home/trellis/.cache/trellis \
    TRELLIS_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8000
# liveness of the web process; docker-compose.yml gives the worker, beat and docs-builder their own check
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health/live', timeout=4)"]
CMD ["trellis", "serve", "--host", "0.0.0.0", "--port", "8000"]
