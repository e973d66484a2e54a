# syndicator service image: the web app, the scheduler and the CLI.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY src/syndicator/__init__.py src/syndicator/__init__.py
RUN pip install --no-compile -e . && useradd --system --home /app syndicator

COPY src ./src
COPY templates ./templates
COPY config ./config
COPY examples ./examples
RUN mkdir -p /var/lib/syndicator && chown syndicator /var/lib/syndicator

USER syndicator
ENV SYNDICATOR_VAR_DIR=/var/lib/syndicator \
    SYNDICATOR_ARTICLES_DIR=/var/lib/syndicator/articles \
    SYNDICATOR_DATABASE_URL=sqlite:////var/lib/syndicator/syndicator.db
VOLUME /var/lib/syndicator
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["sh", "-c", "syndicator db upgrade && exec syndicator serve --host 0.0.0.0 --port 8000"]
