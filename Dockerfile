# caffebatch serve in a container: the REST service, its worker pool and the dashboard.
#   docker build -t caffebatch .
#   docker run -p 8080:8080 -v caffebatch-home:/var/lib/caffebatch \
#     -e CAFFEBATCH_ADMIN_PASSWORD=change-me caffebatch
# docker-compose.yml runs it with PostgreSQL. tests/test_install.py runs these steps
# without a container engine.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python -m pip install --no-cache-dir build==1.6.1 \
    && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
# the service's own packages at the versions the suite passed with (make lock)
COPY requirements-serve.lock /tmp/requirements-serve.lock
COPY --from=build /wheels /tmp/wheels
RUN python -m venv /opt/caffebatch \
    && /opt/caffebatch/bin/pip install --no-cache-dir -r /tmp/requirements-serve.lock \
    && /opt/caffebatch/bin/pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/requirements-serve.lock \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/caffebatch caffebatch \
    && mkdir -p /var/lib/caffebatch && chown caffebatch:caffebatch /var/lib/caffebatch

ENV PATH=/opt/caffebatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CAFFEBATCH_HOME=/var/lib/caffebatch
# the SQLite store (unless CAFFEBATCH_DATABASE_URL says otherwise), models/ and secret.key
VOLUME ["/var/lib/caffebatch"]
USER caffebatch
WORKDIR /var/lib/caffebatch
EXPOSE 8080
# /healthz answers while the process serves (docs/service.md, "Health")
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "caffebatch"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
