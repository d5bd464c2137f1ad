# One image for every claimflow process: `claimflow api` (default), `claimflow worker`,
# `claimflow migrate`. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
# Installs the package and its `claimflow` console script ([project.scripts]).
RUN pip install . && rm -rf /src

# Run unprivileged; the app writes nothing but logs to stdout.
RUN useradd --create-home --uid 10001 claimflow
USER claimflow
WORKDIR /home/claimflow

EXPOSE 8000
CMD ["claimflow", "api"]
