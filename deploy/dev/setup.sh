#!/usr/bin/env bash
# Install everything Yunguan needs on a fresh machine: the Python virtualenv with the project and its test tools,
# and a running PostgreSQL on 127.0.0.1:5432. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Yunguan needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.yunguan-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # libvirt-python builds from source against the system libvirt: it needs libvirt-dev, pkg-config and gcc
    if ! { command -v pkg-config >/dev/null && pkg-config --exists libvirt && command -v gcc >/dev/null; }; then
        echo "setup: installing libvirt-dev, pkg-config and gcc (to build libvirt-python)" >&2
        if [ "$(id -u)" != 0 ]; then
            echo "setup: run as root, or: apt-get install -y libvirt-dev pkg-config gcc" >&2
            exit 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvirt-dev pkg-config gcc >/dev/null
    fi
    echo "setup: installing Python dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
    .venv/bin/python -c 'import controlplane, sqlalchemy, alembic, typer, psycopg, openpyxl, cryptography, libvirt' \
        || { echo "setup: the Python install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
fi

deploy/dev/postgres.sh start
