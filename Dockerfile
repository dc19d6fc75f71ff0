# appsync-emu in a container. Its steps are the README's quick start: install the package
# with the `aws` extra (boto3, which AWS Lambda's Python runtime provides to functions) and
# run `appsync-emu serve` on the mounted project. Without a mount it serves the showcase.
#   docker build -t appsync-emu .
#   docker run --rm -p 127.0.0.1:4000:4000 -v "$PWD:/app" appsync-emu   (loopback only: see docs/SECURITY.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/appsync-emu
COPY pyproject.toml README.md LICENSE ./
COPY appsync_emu ./appsync_emu
# appsync_emu/examples links to ../examples: the package ships them for `appsync-emu init`.
COPY examples ./examples
RUN pip install '.[aws]'

COPY examples/genai-chat /app
RUN useradd --create-home --uid 10001 appsync
USER appsync
WORKDIR /app

EXPOSE 4000
ENTRYPOINT ["appsync-emu", "serve", "/app", "--host", "0.0.0.0"]
