# syntax=docker/dockerfile:1.7
# The slim image: bot, gallery, queue exporter and `reelbot migrate`. No torch, no CUDA.
# Build from the repository root:  docker build -f deploy/docker/app.Dockerfile -t reelbot-app .
# Pin the base by digest in production: --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:…
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/reelbot
WORKDIR /src
COPY . .
# The bot and gallery extras only: the bot never imports torch (see README.md).
RUN /opt/reelbot/bin/pip install ".[bot,gallery]" \
 && ! /opt/reelbot/bin/python -c "import torch" 2>/dev/null

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home reelbot
COPY --from=build /opt/reelbot /opt/reelbot
ENV PATH=/opt/reelbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REELBOT_LOG_FORMAT=json \
    REELBOT_METRICS_HOST=0.0.0.0 \
    REELBOT_METRICS_PORT=9100 \
    REELBOT_GALLERY_HOST=0.0.0.0 \
    HEALTHCHECK_URL=http://127.0.0.1:9100/livez
USER 10001:10001
WORKDIR /app
# Each process answers on its own port and path; compose and Kubernetes set HEALTHCHECK_URL
# (or their own probes) per service. The default fits the exporter and the bot.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
# Exec form: reelbot is PID 1 and gets SIGTERM itself (graceful drain, see deploy/README.md).
ENTRYPOINT ["reelbot"]
CMD ["gallery"]
