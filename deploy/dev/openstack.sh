#!/usr/bin/env bash
# A real, local OpenStack (Keystone, Placement, Nova with fake computes, Glance, Neutron API, Cinder with a fake
# volume driver) on 127.0.0.1 for Yunguan's integration tests. See deploy/dev/openstack/README.md.
#
#   deploy/dev/openstack.sh install                 # apt packages + services venv (cached, idempotent)
#   deploy/dev/openstack.sh start [--computes N]    # fresh databases, all services, wait until ready
#   deploy/dev/openstack.sh status                  # exit 0 when ready
#   deploy/dev/openstack.sh seed SCENARIO.yaml      # flavors, projects, quotas, servers, volumes (idempotent)
#   deploy/dev/openstack.sh stop                    # stop what this script started
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OSDIR="$HERE/openstack"
CACHE="${YUNGUAN_CACHE:-/var/cache/yunguan}"
STATE="${YUNGUAN_OS_STATE:-/var/tmp/yunguan-openstack}"
VENV="$CACHE/openstack-venv"
CONSTRAINTS="$OSDIR/os-constraints.txt"
PYTHON="${YUNGUAN_OS_PYTHON:-$(command -v python3.11 || command -v python3)}"
# Force private MariaDB/RabbitMQ even when the machine's servers answer (1), or never reuse them.
PRIVATE_INFRA="${YUNGUAN_OS_PRIVATE_INFRA:-0}"

PASSWORD="${YUNGUAN_OS_PASSWORD:-yunguan-dev}"       # every service user, the DB and RabbitMQ users
ADMIN_PASSWORD="${YUNGUAN_OS_ADMIN_PASSWORD:-yunguan-admin}"
DB_PREFIX="${YUNGUAN_OS_DB_PREFIX:-yunguan_os_}"
DB_USER="${DB_PREFIX}svc"
DATABASES=(keystone nova_api nova nova_cell0 placement glance neutron cinder)
RABBIT_USER=openstack
RABBIT_VHOST=openstack
APT_PACKAGES=(mariadb-server mariadb-client rabbitmq-server curl procps iproute2)
PIP_PACKAGES=(keystone openstack-placement nova glance neutron cinder gunicorn PyMySQL openstacksdk PyYAML)

# service -> port (all on 127.0.0.1)
declare -A PORT=([keystone]=5000 [placement]=8778 [nova-api]=8774 [glance]=9292 [neutron]=9696 [cinder-api]=8776)
PRIVATE_DB_PORT=13306
PRIVATE_AMQP_PORT=5673
PRIVATE_EPMD_PORT=14369

DB_URL=""; TRANSPORT_URL=""
ETC="$STATE/etc"; LOGS="$STATE/logs"; PIDS="$STATE/pids"; DATA="$STATE/data"; RUN="$STATE/run"

log() { printf '[openstack.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------- install
constraints_key() { { cat "$CONSTRAINTS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16; }

cmd_install() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c 'install ok installed' >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    # Debian's maintainer scripts would start the daemons (invoke-rc.d); this script starts what it needs itself.
    local policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    ((policy == 0)) || rm -f /usr/sbin/policy-rc.d
  fi
  local key; key="$(constraints_key)"
  if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.yunguan-key" 2>/dev/null)" == "$key" ]]; then
    log "services venv up to date: $VENV"
    return 0
  fi
  log "building services venv $VENV (key $key)"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -c "$CONSTRAINTS" "${PIP_PACKAGES[@]}" >"$CACHE/openstack-venv-pip.log" 2>&1 ||
    { tail -n 30 "$CACHE/openstack-venv-pip.log" >&2; rm -rf "$VENV"; die "pip install failed"; }
  echo "$key" >"$VENV/.yunguan-key"
  log "services venv ready"
}

need_install() {
  [[ -x "$VENV/bin/python" && "$(cat "$VENV/.yunguan-key" 2>/dev/null)" == "$(constraints_key)" ]] ||
    die "services venv missing or stale: run '$0 install' first"
  command -v mariadb >/dev/null || die "mariadb client missing: run '$0 install' first"
}

# ---------------------------------------------------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t="$1" what="$2"; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out after ${t}s waiting for $what"
    sleep 0.5
  done
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# spawn NAME DIR CMD... : run CMD in DIR in its own session (pgid == pid), record its pid
spawn() {
  local name="$1" dir="$2"; shift 2
  (cd "$dir" && exec setsid "$@" </dev/null >>"$LOGS/$name.out" 2>&1) &
  echo $! >"$PIDS/$name.pid"
}

render() { # render TEMPLATE OUT [KEY=VALUE...]
  local tmpl="$1" out="$2"; shift 2
  local args=(-e "s|@STATE@|$STATE|g" -e "s|@VENV@|$VENV|g" -e "s|@OSDIR@|$OSDIR|g" -e "s|@PASSWORD@|$PASSWORD|g"
    -e "s|@DB_URL@|$DB_URL|g" -e "s|@TRANSPORT_URL@|$TRANSPORT_URL|g" -e "s|@LOGS@|$LOGS|g" -e "s|@DATA@|$DATA|g"
    -e "s|@ETC@|$ETC|g" -e "s|@DB_PREFIX@|$DB_PREFIX|g")
  local kv
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tmpl" >"$out"
  if grep -n '@[A-Z_]*@' "$out" >&2; then die "unrendered placeholder in $out"; fi
}

vpy() { "$VENV/bin/python" "$@"; }

# ---------------------------------------------------------------------------------------------------------- MariaDB
# Sets DB_MODE (machine|private), MYSQL (admin client command) and DB_URL (base URL for services).
setup_mariadb() {
  if [[ "$PRIVATE_INFRA" != 1 ]] && port_open 3306 && mariadb -uroot --protocol=socket -e 'select 1' >/dev/null 2>&1; then
    DB_MODE=machine
    MYSQL=(mariadb -uroot --protocol=socket)
    DB_URL="mysql+pymysql://$DB_USER:$PASSWORD@127.0.0.1:3306"
    log "MariaDB: reusing the machine's server on 127.0.0.1:3306"
  else
    DB_MODE=private
    local d="$DATA/mariadb"
    mkdir -p "$d/data" "$d/run"
    chown -R mysql:mysql "$d"          # mariadbd runs as mysql and needs a socket/pid dir it owns
    render "$OSDIR/etc/mariadb.cnf.in" "$ETC/mariadb.cnf" DB_PORT="$PRIVATE_DB_PORT"
    MYSQL=(mariadb --defaults-file="$ETC/mariadb.cnf" -uroot --protocol=socket)
    if pid_alive "$PIDS/mariadb.pid" && "${MYSQL[@]}" -e 'select 1' >/dev/null 2>&1; then
      log "MariaDB: private server already running on 127.0.0.1:$PRIVATE_DB_PORT"
    else
      if [[ ! -d "$d/data/mysql" ]]; then
        log "MariaDB: initialising private datadir"
        mariadb-install-db --defaults-file="$ETC/mariadb.cnf" --user=mysql --auth-root-authentication-method=socket \
          --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 || die "mariadb-install-db failed, see $LOGS/mariadb-install.log"
      fi
      log "MariaDB: starting private server on 127.0.0.1:$PRIVATE_DB_PORT"
      spawn mariadb "$d" /usr/sbin/mariadbd --defaults-file="$ETC/mariadb.cnf"
      wait_for 60 "private MariaDB" "${MYSQL[@]}" -e 'select 1'
    fi
    DB_URL="mysql+pymysql://$DB_USER:$PASSWORD@127.0.0.1:$PRIVATE_DB_PORT"
  fi
  echo "$DB_MODE" >"$STATE/db-mode"
  local sql="" db
  for db in "${DATABASES[@]}"; do
    sql+="DROP DATABASE IF EXISTS \`${DB_PREFIX}${db}\`; CREATE DATABASE \`${DB_PREFIX}${db}\` CHARACTER SET utf8mb4;"
  done
  local h
  for h in localhost 127.0.0.1; do
    sql+="CREATE USER IF NOT EXISTS '$DB_USER'@'$h' IDENTIFIED BY '$PASSWORD';"
    sql+="ALTER USER '$DB_USER'@'$h' IDENTIFIED BY '$PASSWORD';"
    for db in "${DATABASES[@]}"; do sql+="GRANT ALL PRIVILEGES ON \`${DB_PREFIX}${db}\`.* TO '$DB_USER'@'$h';"; done
  done
  "${MYSQL[@]}" -e "$sql"
  log "MariaDB: databases ${DB_PREFIX}{${DATABASES[*]}} recreated"
}

# ---------------------------------------------------------------------------------------------------------- RabbitMQ
rabbit_private_env() {
  export RABBITMQ_NODENAME="yunguan_os@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$PRIVATE_AMQP_PORT" RABBITMQ_DIST_PORT=$((PRIVATE_AMQP_PORT + 20000))
  export ERL_EPMD_PORT="$PRIVATE_EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$DATA/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$LOGS/rabbitmq"
  export RABBITMQ_PID_FILE="$PIDS/rabbitmq.pid" RABBITMQ_CONFIG_FILE="$ETC/rabbitmq"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$ETC/rabbitmq-enabled-plugins" RABBITMQ_ENABLED_PLUGINS=""
  export HOME="$DATA/rabbitmq"   # erlang cookie
}

# Sets RABBITMQCTL and TRANSPORT_URL
setup_rabbitmq() {
  if [[ "$PRIVATE_INFRA" != 1 ]] && port_open 5672 && timeout 30 rabbitmqctl -q status >/dev/null 2>&1; then
    RABBIT_MODE=machine
    RABBITMQCTL=(timeout 60 rabbitmqctl -q)
    local port=5672
    log "RabbitMQ: reusing the machine's server on 127.0.0.1:5672"
  else
    RABBIT_MODE=private
    local port="$PRIVATE_AMQP_PORT"
    mkdir -p "$DATA/rabbitmq/mnesia" "$LOGS/rabbitmq"
    printf '[].\n' >"$ETC/rabbitmq-enabled-plugins"
    printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$port" >"$ETC/rabbitmq.conf"
    RABBITMQCTL=(env_rabbitmqctl)
    if (rabbit_private_env; timeout 20 /usr/lib/rabbitmq/bin/rabbitmqctl -q status) >/dev/null 2>&1; then
      log "RabbitMQ: private node already running on 127.0.0.1:$port"
    else
      log "RabbitMQ: starting private node on 127.0.0.1:$port"
      (rabbit_private_env; cd "$DATA/rabbitmq" && /usr/lib/rabbitmq/bin/rabbitmq-server -detached) \
        >>"$LOGS/rabbitmq-start.out" 2>&1
      echo "$PRIVATE_EPMD_PORT" >"$STATE/rabbitmq-epmd-port"
      wait_for 20 "RabbitMQ pid file" test -s "$PIDS/rabbitmq.pid"
      (rabbit_private_env; timeout 120 /usr/lib/rabbitmq/bin/rabbitmqctl -q wait "$PIDS/rabbitmq.pid") >/dev/null ||
        die "private RabbitMQ did not start, see $LOGS/rabbitmq"
    fi
  fi
  echo "$RABBIT_MODE" >"$STATE/rabbit-mode"
  # A fresh vhost every start: no stale queues from earlier fake computes.
  "${RABBITMQCTL[@]}" delete_vhost "$RABBIT_VHOST" >/dev/null 2>&1 || true
  "${RABBITMQCTL[@]}" add_vhost "$RABBIT_VHOST" >/dev/null
  if ! "${RABBITMQCTL[@]}" list_users 2>/dev/null | awk '{print $1}' | grep -cx "$RABBIT_USER" >/dev/null; then
    "${RABBITMQCTL[@]}" add_user "$RABBIT_USER" "$PASSWORD" >/dev/null
  else
    "${RABBITMQCTL[@]}" change_password "$RABBIT_USER" "$PASSWORD" >/dev/null
  fi
  "${RABBITMQCTL[@]}" set_permissions -p "$RABBIT_VHOST" "$RABBIT_USER" '.*' '.*' '.*' >/dev/null
  TRANSPORT_URL="rabbit://$RABBIT_USER:$PASSWORD@127.0.0.1:$port/$RABBIT_VHOST"
  log "RabbitMQ: vhost $RABBIT_VHOST and user $RABBIT_USER ready"
}

env_rabbitmqctl() { (rabbit_private_env; timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@"); }

# ---------------------------------------------------------------------------------------------------------- configs
write_configs() {
  local n="$1" i svc
  mkdir -p "$ETC"/{keystone,placement,nova,glance,neutron,cinder} "$RUN"
  mkdir -p "$DATA"/{keystone/fernet-keys,keystone/credential-keys,nova/lock,placement,glance/images,glance/staging,glance/tasks,neutron/lock,cinder/lock,cinder/volumes}
  chmod 700 "$DATA/keystone/fernet-keys" "$DATA/keystone/credential-keys"
  # python helpers (cinder WSGI shim, fake volume driver) run from the state dir: no __pycache__ in the repo
  mkdir -p "$RUN/lib"
  cp "$OSDIR/cinder_wsgi.py" "$OSDIR/yunguan_fake_volume.py" "$RUN/lib/"
  render "$OSDIR/etc/keystone.conf.in" "$ETC/keystone/keystone.conf"
  render "$OSDIR/etc/placement.conf.in" "$ETC/placement/placement.conf"
  render "$OSDIR/etc/nova.conf.in" "$ETC/nova/nova.conf" COMPUTES="$n"
  cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/api-paste.ini"
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$DATA/nova/compute-$i/instances"
    render "$OSDIR/etc/nova-compute.conf.in" "$ETC/nova/compute-$i.conf" HOST="fake-compute-$i" \
      STATE_PATH="$DATA/nova/compute-$i"
  done
  render "$OSDIR/etc/glance-api.conf.in" "$ETC/glance/glance-api.conf"
  cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/glance-api-paste.ini"
  render "$OSDIR/etc/neutron.conf.in" "$ETC/neutron/neutron.conf"
  cp "$VENV/etc/neutron/api-paste.ini" "$ETC/neutron/api-paste.ini"
  render "$OSDIR/etc/cinder.conf.in" "$ETC/cinder/cinder.conf"
  cp "$VENV/etc/cinder/api-paste.ini" "$ETC/cinder/api-paste.ini"

  # gunicorn: one directory per WSGI service holding its gunicorn.conf.py (started with NO arguments)
  # name, app, workers, threads, environment
  gunicorn_dir keystone "keystone.wsgi.api:application" 1 8 "OS_KEYSTONE_CONFIG_DIR=$ETC/keystone"
  gunicorn_dir placement "placement.wsgi.api:application" 1 4 "OS_PLACEMENT_CONFIG_DIR=$ETC/placement"
  gunicorn_dir nova-api "nova.wsgi.osapi_compute:application" 2 4 "OS_NOVA_CONFIG_DIR=$ETC/nova"
  gunicorn_dir glance "glance.wsgi.api:application" 1 4 "OS_GLANCE_CONFIG_DIR=$ETC/glance"
  gunicorn_dir neutron "neutron.wsgi.api:application" 1 4 "OS_NEUTRON_CONFIG_DIR=$ETC/neutron" \
    "OS_NEUTRON_CONFIG_FILES=neutron.conf"
  gunicorn_dir cinder-api "cinder_wsgi:application" 1 4 "YUNGUAN_CINDER_CONF=$ETC/cinder/cinder.conf"

  cat >"$STATE/clouds.yaml" <<EOF
clouds:
  yunguan-local:
    auth:
      auth_url: http://127.0.0.1:${PORT[keystone]}/v3
      username: admin
      password: $ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
}

gunicorn_dir() { # NAME APP WORKERS THREADS ENV...
  local name="$1" app="$2" workers="$3" threads="$4" d="$RUN/$1"; shift 4
  local env="" e
  for e in "$@"; do env+="\"$e\", "; done
  mkdir -p "$d"
  render "$OSDIR/gunicorn.conf.py.in" "$d/gunicorn.conf.py" NAME="$name" APP="$app" RAW_ENV="$env" \
    WORKERS="$workers" THREADS="$threads" PORT="${PORT[$name]}"
}

# ---------------------------------------------------------------------------------------------------------- schemas
run_logged() { # NAME CMD... : run, log to $LOGS/NAME.log, fail loudly
  local name="$1"; shift
  if ! "$@" >>"$LOGS/$name.log" 2>&1; then
    log "FAILED: $* (see $LOGS/$name.log)"; tail -n 20 "$LOGS/$name.log" >&2; return 1
  fi
}

sync_keystone() {
  local c=(--config-file "$ETC/keystone/keystone.conf")
  run_logged keystone-manage "$VENV/bin/keystone-manage" "${c[@]}" db_sync &&
    run_logged keystone-manage "$VENV/bin/keystone-manage" "${c[@]}" fernet_setup --keystone-user root --keystone-group root &&
    run_logged keystone-manage "$VENV/bin/keystone-manage" "${c[@]}" credential_setup --keystone-user root --keystone-group root &&
    run_logged keystone-manage "$VENV/bin/keystone-manage" "${c[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
      --bootstrap-admin-url "http://127.0.0.1:${PORT[keystone]}/v3/" \
      --bootstrap-internal-url "http://127.0.0.1:${PORT[keystone]}/v3/" \
      --bootstrap-public-url "http://127.0.0.1:${PORT[keystone]}/v3/" --bootstrap-region-id RegionOne
}
sync_nova() {
  local c=(--config-file "$ETC/nova/nova.conf")
  run_logged nova-manage "$VENV/bin/nova-manage" "${c[@]}" api_db sync &&
    run_logged nova-manage "$VENV/bin/nova-manage" "${c[@]}" cell_v2 map_cell0 &&
    run_logged nova-manage "$VENV/bin/nova-manage" "${c[@]}" cell_v2 create_cell --name cell1 &&
    run_logged nova-manage "$VENV/bin/nova-manage" "${c[@]}" db sync
}
sync_placement() { run_logged placement-manage "$VENV/bin/placement-manage" --config-file "$ETC/placement/placement.conf" db sync; }
sync_glance() { run_logged glance-manage "$VENV/bin/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync; }
sync_neutron() { run_logged neutron-db-manage "$VENV/bin/neutron-db-manage" --config-file "$ETC/neutron/neutron.conf" upgrade head; }
sync_cinder() { run_logged cinder-manage "$VENV/bin/cinder-manage" --config-file "$ETC/cinder/cinder.conf" db sync; }

sync_all() {
  local pids=() s rc=0
  for s in keystone nova placement glance neutron cinder; do
    "sync_$s" & pids+=($!)
  done
  for s in "${pids[@]}"; do wait "$s" || rc=1; done
  ((rc == 0)) || die "schema sync failed"
}

# ---------------------------------------------------------------------------------------------------------- services
start_gunicorn() { spawn "$1" "$RUN/$1" "$VENV/bin/gunicorn"; }
wait_http() { # NAME : wait until its API root answers; fail fast if the process died
  local name="$1" port="${PORT[$1]}" end=$((SECONDS + 120))
  until http_up "$port"; do
    pid_alive "$PIDS/$name.pid" || { tail -n 15 "$LOGS/$name.log" >&2; die "$name died, see $LOGS/$name.log"; }
    ((SECONDS < end)) || die "timed out waiting for $name on :$port"
    sleep 0.5
  done
}
http_up() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1/" | grep -c '^[1-4]' >/dev/null; }
start_daemon() { # NAME BINARY CONFIG-FILES...
  local name="$1" bin="$2"; shift 2
  local args=() f
  for f in "$@"; do args+=(--config-file "$f"); done
  spawn "$name" "$STATE" env PYTHONPATH="$RUN/lib" "$VENV/bin/$bin" "${args[@]}" --log-file "$LOGS/$name.log"
}

cmd_start() {
  local n=4
  while (($#)); do
    case "$1" in
      --computes) n="${2:?--computes needs a number}"; shift 2 ;;
      --computes=*) n="${1#*=}"; shift ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--computes must be a positive integer"
  need_install
  if [[ -f "$STATE/computes" ]] && any_running; then
    if [[ "$(cat "$STATE/computes")" == "$n" ]] && ready_quick; then
      log "already running and ready ($n computes)"; print_env; return 0
    fi
    log "running but not ready or different size: stopping first"
    cmd_stop
  fi
  local s
  for s in "${!PORT[@]}"; do
    ! port_open "${PORT[$s]}" || die "127.0.0.1:${PORT[$s]} ($s) is taken by a process this script did not start"
  done
  local t0=$SECONDS
  rm -rf "$ETC" "$RUN" "$DATA/keystone" "$DATA/nova" "$DATA/placement" "$DATA/glance" "$DATA/neutron" "$DATA/cinder"
  rm -rf "$LOGS"
  mkdir -p "$ETC" "$LOGS" "$PIDS" "$DATA" "$RUN"
  echo "$n" >"$STATE/computes"
  setup_mariadb
  setup_rabbitmq
  write_configs "$n"
  log "schemas (parallel)"
  sync_all
  log "keystone"
  start_gunicorn keystone
  wait_http keystone
  log "bootstrap users, roles, catalog"
  OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" vpy "$OSDIR/bootstrap.py" --password "$PASSWORD" \
    >>"$LOGS/bootstrap.log" 2>&1 || { tail -n 30 "$LOGS/bootstrap.log" >&2; die "bootstrap failed"; }
  log "APIs"
  for s in placement nova-api glance neutron cinder-api; do start_gunicorn "$s"; done
  for s in placement nova-api glance neutron cinder-api; do wait_http "$s"; done
  log "nova conductor/scheduler, $n fake computes, cinder scheduler/volume"
  start_daemon nova-conductor nova-conductor "$ETC/nova/nova.conf"
  start_daemon nova-scheduler nova-scheduler "$ETC/nova/nova.conf"
  local i
  for ((i = 1; i <= n; i++)); do
    start_daemon "nova-compute-$i" nova-compute "$ETC/nova/nova.conf" "$ETC/nova/compute-$i.conf"
  done
  start_daemon cinder-scheduler cinder-scheduler "$ETC/cinder/cinder.conf"
  start_daemon cinder-volume cinder-volume "$ETC/cinder/cinder.conf"
  log "waiting until ready"
  OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" vpy "$OSDIR/ready.py" --computes "$n" --wait 300 \
    --pids-dir "$PIDS" || die "not ready; logs in $LOGS"
  log "ready in $((SECONDS - t0)) s ($n computes); logs in $LOGS"
  print_env
}

print_env() { echo "export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml OS_CLOUD=yunguan-local"; }

any_running() {
  local f
  for f in "$PIDS"/*.pid; do [[ -e "$f" ]] && pid_alive "$f" && return 0; done
  return 1
}

ready_quick() {
  [[ -f "$STATE/computes" && -f "$STATE/clouds.yaml" && -x "$VENV/bin/python" ]] || return 1
  local s
  for s in "${!PORT[@]}"; do http_up "${PORT[$s]}" || return 1; done
  OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" vpy "$OSDIR/ready.py" --computes "$(cat "$STATE/computes")" --pids-dir "$PIDS" >/dev/null 2>&1
}

cmd_status() {
  if ready_quick; then
    log "ready ($(cat "$STATE/computes") computes, $(our_rss_mb) MB RSS in $(our_pids | wc -l) processes)"
    print_env; return 0
  fi
  log "not ready"
  [[ -f "$STATE/computes" ]] && OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" vpy "$OSDIR/ready.py" \
    --computes "$(cat "$STATE/computes")" 2>&1 | tail -n 1 >&2 || true
  return 1
}

our_pids() { # every live process of the process groups this script started
  local f
  for f in "$PIDS"/*.pid; do [[ -e "$f" ]] && pgrep -g "$(cat "$f")" 2>/dev/null; done | sort -u
}
our_rss_mb() { our_pids | xargs -r ps -o rss= -p | awk '{s += $1} END {printf "%d", s / 1024}'; }

# ---------------------------------------------------------------------------------------------------------- stop
descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }

stop_pidfiles() { # GRACE PIDFILE...
  local grace="$1"; shift
  local f pid all=() p
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      all+=("$pid" $(descendants "$pid"))
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  local end=$((SECONDS + grace))
  while ((SECONDS < end)); do
    local alive=0
    for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    ((alive)) || break
    sleep 0.5
  done
  for p in "${all[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL -- "-$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; fi
  done
  rm -f "$@"
}

cmd_stop() {
  [[ -d "$PIDS" ]] || { log "nothing to stop"; return 0; }
  local f svc=()
  for f in "$PIDS"/*.pid; do
    [[ -e "$f" ]] || continue
    case "$(basename "$f")" in mariadb.pid | rabbitmq.pid) ;; *) svc+=("$f") ;; esac
  done
  if ((${#svc[@]})); then
    log "stopping ${#svc[@]} OpenStack processes"
    stop_pidfiles 10 "${svc[@]}"
  fi
  if [[ -f "$PIDS/rabbitmq.pid" ]]; then
    log "stopping private RabbitMQ"
    env_rabbitmqctl stop "$PIDS/rabbitmq.pid" >/dev/null 2>&1 || true
    stop_pidfiles 10 "$PIDS/rabbitmq.pid"
    (rabbit_private_env; epmd -port "$PRIVATE_EPMD_PORT" -kill >/dev/null 2>&1) || true
  fi
  if [[ -f "$PIDS/mariadb.pid" ]]; then
    log "stopping private MariaDB"
    stop_pidfiles 30 "$PIDS/mariadb.pid"
  fi
  log "stopped"
}

# ---------------------------------------------------------------------------------------------------------- seed
cmd_seed() {
  local scenario="${1:?usage: $0 seed SCENARIO.yaml}"
  [[ -f "$scenario" ]] || die "no such scenario: $scenario"
  need_install
  ready_quick || die "OpenStack is not ready: run '$0 start' first"
  OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" vpy "$OSDIR/seed.py" "$scenario"
}

# ---------------------------------------------------------------------------------------------------------- main
main() {
  [[ "$(id -u)" == 0 ]] || die "run as root (apt-get, MariaDB root socket, rabbitmqctl)"
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    install) cmd_install "$@" ;;
    start) mkdir -p "$STATE" && cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    seed) cmd_seed "$@" ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
