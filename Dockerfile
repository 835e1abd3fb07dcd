# Two stages. The first builds a virtual environment from requirements.lock (every package pinned and
# hash-checked) plus the bot itself; the second is the runtime: Python, Debian's ffmpeg (to fit videos
# under Discord's upload limits and to make simulated videos), a non-root user, the database on /data.
# tests/unit/test_dockerfile.py runs this file's install and check steps in a fresh virtual environment.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements.lock /app/requirements.lock
RUN /venv/bin/pip install --no-cache-dir --require-hashes -r /app/requirements.lock
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
# Editable, so the code (and migrations/ beside it) stays in /app; --no-deps: everything is in the lock.
RUN /venv/bin/pip install --no-cache-dir --no-deps -e /app

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 bot \
    && mkdir /data && chown bot:bot /data
COPY --from=build /venv /venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/venv/bin:$PATH \
    DATABASE_PATH=/data/sora-bot.sqlite3 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# MPLCONFIGDIR: matplotlib (the /quota report chart) caches its font list there; /tmp is writable even
# when the root file system and $HOME are mounted read-only.
VOLUME /data
USER bot
# Unhealthy once Discord's gateway has not acknowledged a heartbeat for HEALTH_MAX_AGE_SECONDS (120 s).
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 CMD ["python", "-m", "bot.ops.health"]
# `docker stop` sends SIGTERM: the bot stops taking commands, leaves every job's state on disk, closes the
# database and exits; unfinished jobs resume on the next start.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
