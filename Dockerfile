# One image for every Wharf process: `wharf serve` (API, admin, worker) and `wharf edge`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY controlplane ./controlplane
COPY edge ./edge
COPY templates ./templates
RUN pip install --no-cache-dir . && useradd --system --home /data wharf && mkdir -p /data \
    && chown wharf /data
USER wharf
ENV WHARF_DATA_DIR=/data
EXPOSE 8000 8090
CMD ["wharf", "serve"]
