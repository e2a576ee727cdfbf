# syntax=docker/dockerfile:1
# mcp-gatekeeper container image: `docker build -t mcp-gatekeeper .`
#
# build:   Debian 12's own Python 3.11 makes a virtual environment in /opt/mcp-gatekeeper and
#          installs the project into it; pip and setuptools are then removed from it.
# runtime: distroless Python 3 on Debian 12, the same interpreter at the same path (/usr/bin), so
#          the copied venv runs as it is. No shell, no package manager, no compiler; UID 65532.
#
# The root filesystem can be mounted read-only: bytecode is compiled at build time and never
# written at run time; the only writable paths are the ones the deployment mounts (/tmp, and the
# sqlite store's directory when that store is used). `docker stop` / Kubernetes send SIGTERM, on
# which the service stops accepting connections, lets in-flight requests finish and exits 0.
ARG BUILD_IMAGE=debian:12-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/python3-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
# Debian's package versions move with point releases; the runtime's Python is pinned by the
# distroless tag, and this stage only has to match its minor version (3.11).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# python3.11, not python3: the venv's interpreter link then names /usr/bin/python3.11, which the
# runtime image has under that exact name.
RUN python3.11 -m venv /opt/mcp-gatekeeper
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY app ./app
COPY templates ./templates
# unchecked-hash: the .pyc files stay valid whatever the file times are after COPY --from, so the
# read-only runtime never tries to recompile.
# constraints.txt: exactly the versions the tests ran (scripts/update-constraints.sh).
# [tracing]: the OpenTelemetry SDK and OTLP exporter (about 10 MB with protobuf and requests),
# so `tracing.endpoint` works in this image, which has no pip to add them; never imported while
# tracing is not configured.
RUN /opt/mcp-gatekeeper/bin/pip install --no-compile -c constraints.txt ".[tracing]" \
    && /opt/mcp-gatekeeper/bin/pip uninstall -y pip setuptools \
    && /opt/mcp-gatekeeper/bin/python -m compileall -q -j 0 \
        --invalidation-mode unchecked-hash /opt/mcp-gatekeeper/lib \
    && /opt/mcp-gatekeeper/bin/mcp-gatekeeper paths > /dev/null

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="mcp-gatekeeper" \
      org.opencontainers.image.description="OAuth 2.1 forward-auth for self-hosted MCP servers" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/mcp-gatekeeper /opt/mcp-gatekeeper
ENV PATH=/opt/mcp-gatekeeper/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    MCP_GATEKEEPER_CONFIG=/etc/mcp-gatekeeper/config.yaml \
    MCP_GATEKEEPER_SERVER__HOST=0.0.0.0
# distroless's "nonroot" user, by number so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/mcp-gatekeeper/bin/mcp-gatekeeper"]
CMD ["serve"]
