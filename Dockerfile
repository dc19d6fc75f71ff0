# appsync-emu in a container. Its steps are the README's quick start: install the package
# with the `aws` extra (boto3, which AWS Lambda's Python runtime provides to functions) and
# run `appsync-emu serve` on the mounted project. Without a mount it serves the showcase.
# Node.js and npm (Debian's) run Node.js functions, their builds and the embedded DynamoDB
# engine; `appsync-emu prepare` installs esbuild, the common AWS SDK for JavaScript v3 clients
# (Lambda's Node.js runtimes provide the SDK: docs/LAMBDA.md, "Builds and dependencies") and
# dynalite, the DynamoDB engine (docs/DYNAMODB.md), into the image.
#   docker build -t appsync-emu .
#   docker run --rm -p 127.0.0.1:4000:4000 -v "$PWD:/app" appsync-emu   (loopback only: see docs/SECURITY.md)
# `serve` watches /app and hot-reloads an edit of the template, schema, resolvers or functions
# (README, "Hot reload"). Where a bind mount passes no file events into the container (some
# Docker Desktop setups), poll instead: docker run -e WATCHFILES_FORCE_POLLING=true ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APPSYNC_EMU_CACHE_DIR=/var/cache/appsync-emu

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/appsync-emu
COPY pyproject.toml README.md LICENSE ./
COPY appsync_emu ./appsync_emu
# appsync_emu/examples links to ../examples: the package ships them for `appsync-emu init`.
COPY examples ./examples
RUN pip install '.[aws]'

COPY examples/genai-chat /app
RUN useradd --create-home --uid 10001 appsync \
    && install -d -o appsync "$APPSYNC_EMU_CACHE_DIR"
USER appsync
# npm's own download cache is left out of the image.
RUN npm_config_cache=/tmp/npm-cache appsync-emu prepare && rm -rf /tmp/npm-cache
WORKDIR /app

EXPOSE 4000
ENTRYPOINT ["appsync-emu", "serve", "/app", "--host", "0.0.0.0"]
