# A small image: Python, Debian's ffmpeg (to fit videos under Discord's upload limits), a non-root
# user, and the database on a volume.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 bot \
    && mkdir /data && chown bot:bot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .

ENV DATABASE_PATH=/data/sora-bot.sqlite3 \
    PYTHONUNBUFFERED=1
VOLUME /data
USER bot
CMD ["python", "-m", "bot"]
