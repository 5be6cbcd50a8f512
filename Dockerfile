# One image for both programs: `infertap-sidecar` (the entrypoint: the capture proxy, and
# `inject-webhook` for the injection webhook) and `infertap-analyzer` (set as the command).
# Build: docker build -t infertap .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs to build; tests, benchmarks and deploy/ stay out (.dockerignore).
WORKDIR /tmp/infertap-src
COPY pyproject.toml README.md ./
COPY sidecar/ sidecar/
COPY analyzer/ analyzer/
# The Makefile's install without the dev extras: runtime dependencies only.
RUN pip install --no-cache-dir . \
    && rm -rf /tmp/infertap-src

# A fixed numeric UID, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 infertap \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin infertap \
    && mkdir -p /var/spool/infertap \
    && chown 10001:10001 /var/spool/infertap

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
