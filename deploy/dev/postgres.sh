#!/usr/bin/env bash
# PostgreSQL for Yunguan's tests on 127.0.0.1:5432: `start` uses the machine's server when it answers, else starts
# the installed Debian cluster, else installs Debian's postgresql package first (with trust for loopback, which is
# what the tests connect with). `status` exits 0 when it answers.
set -euo pipefail
HOST=127.0.0.1
PORT=${PGPORT:-5432}

answers() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

start() {
    if command -v pg_isready >/dev/null && answers; then
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "postgres.sh: installing PostgreSQL from Debian" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
        for hba in /etc/postgresql/*/main/pg_hba.conf; do
            grep -q '^host all all 127.0.0.1/32 trust' "$hba" \
                || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        done
    fi
    version=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        answers && return 0
        sleep 0.5
    done
    echo "postgres.sh: PostgreSQL did not answer on $HOST:$PORT" >&2
    exit 1
}

case "${1:-}" in
    start) start ;;
    status) answers ;;
    *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
