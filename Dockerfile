# Turnout: the gateway on the policy mounted at /etc/turnout/policies (the starter policy
# is baked in there and a ConfigMap or volume replaces it). Multi-stage: the wheel is built
# in the first stage, the runtime stage holds only the installed package; runs as a
# non-root user. Provider keys and TURNOUT_API_KEYS come from the environment or files.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY engine engine
COPY providers providers
COPY policies policies
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/turnout-*.whl

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/turnout turnout
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/turnout-*.whl \
    && rm -rf /wheels \
    && turnout init /etc/turnout/policies --env-example /etc/turnout/.env.example
USER 10001
WORKDIR /var/lib/turnout
ENV TURNOUT_HOST=0.0.0.0 \
    TURNOUT_PORT=8080 \
    TURNOUT_POLICY_DIR=/etc/turnout/policies \
    TURNOUT_DATA_DIR=/var/lib/turnout/data \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["turnout"]
CMD ["serve"]
