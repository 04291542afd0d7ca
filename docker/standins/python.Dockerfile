# Stand-in for python:3.11-slim (the Dockerfile's PYTHON_IMAGE), for a machine with no image
# registry: Debian bookworm's own Python 3.11 with venv and pip (ensurepip), CA certificates, and
# `python` on PATH, which is what the product's Dockerfile uses of the official image. Official
# images put their own build of Python in /usr/local; here it is Debian's (3.11.2) in /usr.
FROM supportbot-standin/debian:bookworm
ENV LANG=C.UTF-8
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
