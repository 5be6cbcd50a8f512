# One image for both programs: `infertap-sidecar` (the entrypoint: the capture proxy, and
# `inject-webhook` for the injection webhook) and `infertap-analyzer` (set as the command).
# Build: `make image` (deploy/build-image.sh: docker or podman, tagged infertap:VERSION).
# Any Debian image with Python 3.11+ and its venv module will do as the base.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The runtime dependencies (pyproject's [project] dependencies, no extras), listed in a stage of
# their own: the layer that installs them is keyed by that list alone, so neither a code change nor
# an edit elsewhere in pyproject.toml installs them again.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; print(*tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/infertap/bin:$PATH

# A venv: the base's own Python stays untouched (Debian's has no pip and refuses system installs).
# The dependencies' own test suites (numpy's, scipy's: ~55 MB) are never run here and are removed.
# A CA bundle for a TLS-intercepting proxy comes in as the build secret `ca-bundle`
# (deploy/build-image.sh passes PIP_CERT/SSL_CERT_FILE): mounted while pip runs, never stored.
COPY --from=requirements /tmp/requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3 -m venv /opt/infertap \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && find /opt/infertap/lib -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} +

# A fixed numeric UID, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 infertap \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin infertap \
    && mkdir -p /var/spool/infertap \
    && chown 10001:10001 /var/spool/infertap

# Then the project itself; only what the package needs to build (.dockerignore keeps tests,
# benchmarks and deploy/ out).
WORKDIR /tmp/infertap-src
COPY pyproject.toml README.md ./
COPY sidecar/ sidecar/
COPY analyzer/ analyzer/
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && pip install --no-cache-dir --no-deps . \
    && rm -rf /tmp/infertap-src

# The spool must be writable; in Kubernetes an emptyDir is mounted here and the root file system
# is read-only.
ENV INFERTAP_SPOOL_DIR=/var/spool/infertap
# report.html's charts (matplotlib) keep their font cache here: /tmp is an emptyDir in Kubernetes,
# and HOME (/nonexistent) is not writable.
ENV MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /var/spool/infertap
USER 10001:10001

# Traffic, and the admin port (/metrics, /healthz, /readyz). Health checks are Kubernetes probes.
EXPOSE 9000 9090
ENTRYPOINT ["infertap-sidecar"]
# No default flags: settings come from INFERTAP_* variables (flags would override them).
CMD []
