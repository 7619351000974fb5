# One image for every process of the suite; docker-compose.yml picks the process with `command`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    CHIIKI_ENV=production \
    CHIIKI_HOST=0.0.0.0

RUN groupadd --system chiiki && useradd --system --gid chiiki --no-create-home --home-dir /app chiiki

WORKDIR /app

# Dependencies first, in their own layer, so that code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

# Editable, so that the code finds migrations/, alembic.ini and data/ next to the packages under /app.
# Installed as root: the application user can read the code but not change it.
COPY . .
RUN pip install --no-deps --no-build-isolation -e .

USER chiiki

EXPOSE 8000 8001 8002 8003
CMD ["chiiki", "service", "gateway"]
