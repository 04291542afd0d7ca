# Stand-in for chromadb/chroma:1.5.9, for a machine with no image registry: the same server
# (the Rust frontend shipped in the chromadb 1.5.9 Python package, started by `chroma run`),
# persisting to /data, on port 8000, with bash for docker-compose.yml's /dev/tcp health check.
FROM supportbot-standin/python:3.11-slim
# pip reaches PyPI only with this machine's CA bundle, passed as a build secret (not kept).
RUN --mount=type=secret,id=pip_cert python -m venv /opt/chroma \
    && PIP_CERT=/run/secrets/pip_cert PIP_DISABLE_PIP_VERSION_CHECK=1 \
       /opt/chroma/bin/pip install -q --no-cache-dir "chromadb==1.5.9"
ENV ANONYMIZED_TELEMETRY=False
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["/opt/chroma/bin/chroma", "run", "--path", "/data", "--host", "0.0.0.0", "--port", "8000"]
