# syntax=docker/dockerfile:1
# Build stage: build a wheel of Spacecast and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install .

# Runtime stage: just the virtual environment, as an unprivileged user.
FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    SPACECAST_DATABASE__URL="sqlite+aiosqlite:////data/spacecast.db" \
    SPACECAST_HEALTH__HEARTBEAT_FILE="/data/spacecast.heartbeat"
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin spacecast \
    && mkdir -p /data && chown spacecast /data
COPY --from=build /opt/venv /opt/venv
USER spacecast
WORKDIR /data
VOLUME ["/data"]
# The bot touches its heartbeat after every scheduler tick; `health` checks its age.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "bot", "health"]
# SIGTERM (docker stop) makes the bot stop taking outbox rows and finish in-flight sends.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
