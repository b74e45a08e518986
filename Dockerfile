# One image for the web, worker and beat services of docker-compose.yml (and any other Trellis process).
FROM python:3.11-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/trellis
COPY pyproject.toml README.md ./
COPY app ./app
COPY graph ./graph
COPY ingest ./ingest
COPY plugins ./plugins
COPY docs-builder ./docs-builder
COPY examples ./examples
RUN pip install --no-cache-dir . && useradd --create-home trellis
USER trellis
ENV TRELLIS_CACHE=/home/trellis/.cache/trellis
EXPOSE 8000
CMD ["trellis", "serve", "--host", "0.0.0.0", "--port", "8000"]
