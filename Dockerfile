# mcp-gatekeeper: a wheel built in one stage, installed into a slim runtime as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Listen on every interface inside the container; the config file may still override it.
ENV MCP_GATEKEEPER_SERVER__HOST=0.0.0.0 \
    MCP_GATEKEEPER_CONFIG=/etc/mcp-gatekeeper/config.yaml \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["mcp-gatekeeper"]
CMD ["serve"]
