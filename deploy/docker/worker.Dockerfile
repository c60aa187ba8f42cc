# syntax=docker/dockerfile:1.7
# The GPU worker: torch's CUDA build, diffusers, PyAV. Model weights are never baked in: they
# live in a volume mounted at /models (Hugging Face cache and tiny test models).
# Build from the repository root:  docker build -f deploy/docker/worker.Dockerfile -t reelbot-worker .
#
# torch's Linux wheels carry their own CUDA runtime and cuDNN (as nvidia-* wheels), so the
# base needs no CUDA toolkit; the host's driver comes in through the NVIDIA container toolkit.
# Pin the base by digest in production: --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:…
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Pinned: an unpinned torch drifts to whatever CUDA build is newest. Match it to your driver
# (deploy/README.md, "Sizing per GPU type").
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, in its own layer: it is most of the image and changes least often.
RUN python -m venv /opt/reelbot \
 && /opt/reelbot/bin/pip install "torch==${TORCH_VERSION}"
WORKDIR /src
COPY . .
RUN /opt/reelbot/bin/pip install ".[worker]"

FROM ${PYTHON_IMAGE}
# Triton (behind the `compile` speed knob, inference/knobs.py) builds a small C launcher at
# run time, so the runtime image keeps a C compiler. Versions come with the pinned base's
# Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home reelbot \
 && mkdir -p /models \
 && chown reelbot:reelbot /models
COPY --from=build /opt/reelbot /opt/reelbot
ENV PATH=/opt/reelbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HF_HOME=/models/huggingface \
    TRITON_CACHE_DIR=/app/.cache/triton \
    REELBOT_MODELS_DIR=/models/reelbot \
    REELBOT_DEVICE=cuda \
    REELBOT_LOG_FORMAT=json \
    REELBOT_METRICS_HOST=0.0.0.0 \
    REELBOT_METRICS_PORT=9100
USER 10001:10001
WORKDIR /app
# Live while the model loads and while a stopping worker finishes its job; /readyz says when
# it can render (Kubernetes uses both, see deploy/k8s/base/worker-ltx-video.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/livez', timeout=4)"]
# Exec form: reelbot is PID 1 and gets SIGTERM itself: it finishes the job in hand first.
ENTRYPOINT ["reelbot"]
CMD ["worker"]
