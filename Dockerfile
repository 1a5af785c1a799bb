# One image for every Wharf process: `wharf serve` (API, admin UI, worker), `wharf worker` and
# `wharf edge`. Build: docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse
# HEAD) --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t wharf .
# tests/integration/test_image.py runs this builder stage's RUN lines into a fresh venv and starts
# the three processes from it as uid 9999, so keep the builder's steps plain shell.

FROM python:3.11-slim AS builder
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY controlplane ./controlplane
COPY edge ./edge
COPY templates ./templates
# A wheel, not the source tree: the runtime stage gets only what the wheel installs (the packages,
# their data, and the templates under /opt/wharf/share/wharf, where controlplane/web/pages.py looks).
RUN python -m venv /opt/wharf \
    && /opt/wharf/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && /opt/wharf/bin/pip install --no-cache-dir /tmp/wheels/wharf-*.whl

FROM python:3.11-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# https://github.com/opencontainers/image-spec/blob/main/annotations.md
LABEL org.opencontainers.image.title="Wharf" \
      org.opencontainers.image.description="Self-hosted static-site platform behind Traefik" \
      org.opencontainers.image.source="https://github.com/wharf-dev/wharf" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# uid 9999: Coolify's installer makes /data/coolify owned by 9999:root, mode 700, so only uid 9999
# (or root) can write the proxy's dynamic folder (/data/coolify/proxy/dynamic) Wharf writes into.
# gid 0: folders that are group-writable for root's group keep working when a platform runs the
# image under another, arbitrary uid (which always has gid 0). -l: no huge lastlog/faillog entry
# for a high uid. /data and /traefik/dynamic belong to 9999:0 because a fresh named volume copies
# the owner of its mount point.
RUN useradd --no-log-init --no-create-home --uid 9999 --gid 0 --home-dir /data \
        --shell /usr/sbin/nologin wharf \
    && mkdir -p /data /traefik/dynamic \
    && chown 9999:0 /data /traefik/dynamic \
    && chmod 770 /data /traefik/dynamic
COPY --from=builder /opt/wharf /opt/wharf
ENV WHARF_DATA_DIR=/data \
    PATH="/opt/wharf/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /data
USER 9999:0
# 8000: control plane (WHARF_LISTEN); 8090: edge (WHARF_EDGE_LISTEN). Both default to loopback:
# set them to 0.0.0.0:<port> in the container, as the compose files do.
EXPOSE 8000 8090
# The control plane's health, the image's default command; the compose files override it per
# service (the edge answers /healthz on port 8090, the worker has no port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["wharf", "serve"]
