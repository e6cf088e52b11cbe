#!/usr/bin/env bash
# A real, local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager, v1.20.2 built from
# Debian bookworm's source package) on 127.0.0.1 for Yunguan's integration tests, plus fake kubelets.
# See deploy/dev/kubernetes/README.md.
#
#   deploy/dev/kubernetes.sh install                        # apt packages, build + cache the binaries (idempotent)
#   deploy/dev/kubernetes.sh start                          # fresh certs and etcd, wait for /readyz, write kubeconfig
#   deploy/dev/kubernetes.sh status                         # exit 0 when /readyz answers ok
#   deploy/dev/kubernetes.sh kubelet NODE PORT DATAFILE     # fake kubelet for NODE on PORT + Node object
#   deploy/dev/kubernetes.sh metrics PORT [DATAFILE...]     # metrics.k8s.io APIService -> fake on PORT
#   deploy/dev/kubernetes.sh seed MANIFEST.yaml             # kubectl apply (namespaces, quotas, claims...)
#   deploy/dev/kubernetes.sh stop                           # stop what this script started
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8SDIR="$HERE/kubernetes"
CACHE="${YUNGUAN_CACHE:-/var/cache/yunguan}"
STATE="${YUNGUAN_K8S_STATE:-/var/tmp/yunguan-k8s}"
DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"      # Debian bookworm source package `kubernetes`
K8S_VERSION="v1.20.2"                                # what it really is
# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which panics under Go >= 1.18 (nil pointer in
# reflect2.Type2 on every JSON request body that has a map). Debian's reflect2 1.0.2 source replaces it in vendor/.
REFLECT2_DEB_VERSION="1.0.2-2"                       # Debian bookworm source package golang-github-modern-go-reflect2
BUILD_KEY="kubernetes=$DEB_VERSION reflect2=$REFLECT2_DEB_VERSION cgo=0"
BIN="$CACHE/k8s-$DEB_VERSION/bin"
PYTHON="${YUNGUAN_K8S_PYTHON:-$(command -v python3.11 || command -v python3)}"

API_PORT="${YUNGUAN_K8S_API_PORT:-16443}"
ETCD_PORT="${YUNGUAN_K8S_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${YUNGUAN_K8S_ETCD_PEER_PORT:-12380}"
SERVICE_CIDR="10.0.0.0/24"                           # first address 10.0.0.1 is the `kubernetes` service
CONTEXT=yunguan-local
ADMIN_USER=yunguan-admin
APT_PACKAGES=(golang-go etcd-server etcd-client openssl rsync dpkg-dev curl busybox)  # busybox: the wipe Job's script, run by its test

PKI="$STATE/pki"; LOGS="$STATE/logs"; PIDS="$STATE/pids"; DATA="$STATE/data"
KUBECONFIG_FILE="$STATE/kubeconfig"
API_URL="https://127.0.0.1:$API_PORT"

log() { printf '[kubernetes.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------- install
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c 'install ok installed' >/dev/null || echo "$p"
  done
}

# A deb-src list made from the machine's own sources, for apt options that leave the system's apt state alone.
write_private_sources() { # OUT
  local out="$1"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$out.sources"
    echo "$out.sources"
  elif [[ -f /etc/apt/sources.list ]]; then
    sed -nE 's/^deb[[:space:]]+/deb-src /p' /etc/apt/sources.list >"$out.list"
    echo "$out.list"
  else
    die "no /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list to derive deb-src from"
  fi
}

build_binaries() {
  local work="$CACHE/k8s-build" dest="$CACHE/k8s-$DEB_VERSION" blog
  blog="$dest/build.log"
  rm -rf "$work" "$dest/bin.tmp"
  mkdir -p "$work/lists/partial" "$work/apt-cache/archives/partial" "$dest"
  : >"$blog"
  local src
  src="$(write_private_sources "$work/deb-src")"
  local apt=(apt-get -q -o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/apt-cache" -o APT::Sandbox::User=root)
  log "fetching source package kubernetes=$DEB_VERSION (private deb-src list, system apt state untouched)"
  "${apt[@]}" update >>"$blog" 2>&1 || { tail -n 20 "$blog" >&2; die "apt-get update (deb-src) failed"; }
  (cd "$work" && "${apt[@]}" source "kubernetes=$DEB_VERSION") >>"$blog" 2>&1 ||
    { tail -n 20 "$blog" >&2; die "apt-get source failed"; }
  local tree
  tree="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
  [[ -n "$tree" && -f "$tree/Makefile" ]] || die "unpacked source tree not found under $work"
  log "fetching golang-github-modern-go-reflect2=$REFLECT2_DEB_VERSION to replace the vendored reflect2 v1.0.1"
  (cd "$work" && "${apt[@]}" source "golang-github-modern-go-reflect2=$REFLECT2_DEB_VERSION") >>"$blog" 2>&1 ||
    { tail -n 20 "$blog" >&2; die "apt-get source golang-github-modern-go-reflect2 failed"; }
  local r2
  r2="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'golang-github-modern-go-reflect2-*' | head -n 1)"
  [[ -n "$r2" && -f "$r2/reflect2.go" && -f "$r2/go_above_118.go" ]] || die "reflect2 1.0.2 source not found under $work"
  local vr2="$tree/vendor/github.com/modern-go/reflect2"
  [[ -f "$vr2/reflect2.go" ]] || die "no vendored reflect2 in $tree"
  rm -f "$vr2"/*.go "$vr2"/*.s
  find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$vr2/" \;
  echo "reflect2 replaced by Debian $REFLECT2_DEB_VERSION: $(ls "$vr2" | tr '\n' ' ')" >>"$blog"
  log "building kube-apiserver and kube-controller-manager in $tree (~6.5 min on 2 cores, niced; log $blog)"
  local t0=$SECONDS
  (cd "$tree" && exec nice -n 10 env GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOCACHE="$work/gocache" \
    GOPATH="$work/gopath" GOTOOLCHAIN=local make WHAT="cmd/kube-apiserver cmd/kube-controller-manager") \
    >>"$blog" 2>&1 &
  local mpid=$!
  while kill -0 "$mpid" 2>/dev/null; do
    sleep 5
    (((SECONDS - t0) % 60 < 5)) && log "  building... $((SECONDS - t0)) s"
  done
  if ! wait "$mpid"; then
    log "build FAILED after $((SECONDS - t0)) s; tail of $blog:"
    tail -n 40 "$blog" >&2
    die "build failed (tree kept in $work for inspection)"
  fi
  log "build done in $((SECONDS - t0)) s"
  mkdir -p "$dest/bin.tmp"
  cp -L "$tree/_output/bin/kube-apiserver" "$tree/_output/bin/kube-controller-manager" "$dest/bin.tmp/"
  if [[ -x "$BIN/kubectl" ]]; then cp "$BIN/kubectl" "$dest/bin.tmp/"; fi
  echo "$BUILD_KEY" >"$dest/bin.tmp/.yunguan-build"
  rm -rf "$BIN" && mv "$dest/bin.tmp" "$BIN"
  log "removing build tree and Go cache ($(du -sh "$work" 2>/dev/null | cut -f1))"
  chmod -R u+w "$work" 2>/dev/null || true   # the Go module cache is read-only
  rm -rf "$work"
}

fetch_kubectl() {
  local tmp
  tmp="$(mktemp -d "$CACHE/kubectl.XXXXXX")"
  log "fetching kubectl from kubernetes-client=$DEB_VERSION (apt-get download, not installed)"
  (cd "$tmp" && apt-get download -q "kubernetes-client=$DEB_VERSION" >download.log 2>&1) ||
    { tail -n 20 "$tmp/download.log" >&2; rm -rf "$tmp"; die "apt-get download kubernetes-client failed"; }
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/root"
  mkdir -p "$BIN"
  install -m 0755 "$tmp/root/usr/bin/kubectl" "$BIN/kubectl"
  rm -rf "$tmp"
}

cmd_install() {
  local missing
  mapfile -t missing < <(apt_missing "${APT_PACKAGES[@]}")
  local updated=0
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    # Debian's maintainer scripts would start etcd (invoke-rc.d); this script starts its own etcd.
    local policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq; updated=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      { ((policy == 0)) || rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    ((policy == 0)) || rm -f /usr/sbin/policy-rc.d
  fi
  mkdir -p "$CACHE"
  if built_ok; then
    log "kube-apiserver and kube-controller-manager cached in $BIN"
  else
    [[ ! -x "$BIN/kube-apiserver" ]] || log "cached binaries in $BIN are from another build recipe: rebuilding"
    build_binaries
  fi
  if [[ -x "$BIN/kubectl" ]]; then
    log "kubectl cached in $BIN"
  else
    ((updated)) || DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fetch_kubectl
  fi
  log "installed: $("$BIN/kube-apiserver" --version 2>/dev/null), etcd $(etcd --version 2>/dev/null | head -n 1 | awk '{print $3}')"
}

built_ok() {
  [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" &&
    "$(cat "$BIN/.yunguan-build" 2>/dev/null)" == "$BUILD_KEY" ]]
}

need_install() {
  built_ok || die "kube-apiserver/kube-controller-manager missing or stale in $BIN: run '$0 install' first"
  local b
  for b in kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$BIN/$b" ]] || die "$BIN/$b missing: run '$0 install' first"
  done
  command -v etcd >/dev/null || die "etcd missing: run '$0 install' first"
  command -v openssl >/dev/null || die "openssl missing: run '$0 install' first"
}

# ---------------------------------------------------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# spawn NAME CMD... : run CMD in its own session (pgid == pid), log to $LOGS/NAME.log, record its pid
spawn() {
  local name="$1"; shift
  (cd "$STATE" && exec setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&-) &   # 9: the lock, not for daemons
  echo $! >"$PIDS/$name.pid"
}

# ours PIDFILE : the pid is alive and its command line names our state dir (so a recycled pid is never touched)
ours() {
  local f="$1" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$STATE/" >/dev/null
}

token() { cat "$STATE/admin.token" 2>/dev/null; }

api() { # api METHOD PATH [curl args...] : admin request to the apiserver, body on stdout, fails on HTTP >= 400
  local method="$1" path="$2"; shift 2
  curl -sS --fail-with-body -m 20 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(token)" -X "$method" \
    "$API_URL$path" "$@"
}

ready_quick() {
  [[ -f "$STATE/admin.token" && -f "$PKI/ca.crt" ]] || return 1
  [[ "$(curl -s -m 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(token)" "$API_URL/readyz" 2>/dev/null)" == ok ]]
}

# ---------------------------------------------------------------------------------------------------------- PKI
# sign NAME CN O EXTENSIONS : key + cert signed by the run's CA
sign() {
  local name="$1" cn="$2" org="$3" ext="$4" subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
    -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_pki() {
  mkdir -p "$PKI"
  local client='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
  local server='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost'
  # ECDSA P-256 keys: generating eight RSA keys took ~4 s of the start on a busy 2-core machine
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 30 \
    -subj "/CN=yunguan-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  sign apiserver kube-apiserver "" "$server,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  sign kubelet-serving fake-kubelet "" "$server"
  sign apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$client"
  sign front-proxy-client front-proxy-client "" "$client"
  sign controller-manager system:kube-controller-manager "" "$client"
  sign admin "$ADMIN_USER" system:masters "$client"
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  local tok="${YUNGUAN_K8S_TOKEN:-$(openssl rand -hex 24)}"
  printf '%s' "$tok" >"$STATE/admin.token"
  chmod 600 "$STATE/admin.token"
  printf '%s,%s,%s,"system:masters"\n' "$tok" "$ADMIN_USER" "$ADMIN_USER" >"$PKI/tokens.csv"
}

write_kubeconfigs() {
  local ca
  ca="$(base64 -w0 "$PKI/ca.crt")"
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CONTEXT
  cluster:
    server: $API_URL
    certificate-authority-data: $ca
users:
- name: $ADMIN_USER
  user:
    token: $(token)
contexts:
- name: $CONTEXT
  context:
    cluster: $CONTEXT
    user: $ADMIN_USER
current-context: $CONTEXT
EOF
  chmod 600 "$KUBECONFIG_FILE"
  cat >"$STATE/controller-manager.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $API_URL
    certificate-authority: $PKI/ca.crt
users:
- name: kube-controller-manager
  user:
    client-certificate: $PKI/controller-manager.crt
    client-key: $PKI/controller-manager.key
contexts:
- name: local
  context: {cluster: local, user: kube-controller-manager}
current-context: local
EOF
}

# ---------------------------------------------------------------------------------------------------------- start
start_etcd() {
  local extra=()
  # etcd 3.4.23 has --unsafe-no-fsync: a throw-away test store does not need fsync (faster, less disk traffic)
  etcd --help 2>&1 | grep -c -- '--unsafe-no-fsync' >/dev/null && extra+=(--unsafe-no-fsync)
  spawn etcd etcd --name yunguan --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "yunguan=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --initial-cluster-token yunguan-local --log-level warn "${extra[@]}"
}

start_apiserver() {
  spawn kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --insecure-port 0 \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
    --authorization-mode Node,RBAC --anonymous-auth=false \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range "$SERVICE_CIDR" --endpoint-reconciler-type none \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --requestheader-client-ca-file "$PKI/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,NodeRestriction \
    --profiling=false --v=1
}

start_controller_manager() {
  spawn kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --leader-elect=false --port 0 --secure-port 0 --use-service-account-credentials=true \
    --controllers '*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route' \
    --resource-quota-sync-period 10s \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false --v=1
}

wait_up() { # NAME SECONDS CMD... : wait for CMD; fail fast (with the log tail) when NAME died
  local name="$1" t="$2"; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ! ours "$PIDS/$name.pid"; then
      log "$name exited; tail of $LOGS/$name.log:"; tail -n 25 "$LOGS/$name.log" >&2; die "$name died"
    fi
    if ((SECONDS >= end)); then
      log "timed out after ${t}s waiting for $name; tail of $LOGS/$name.log:"; tail -n 25 "$LOGS/$name.log" >&2
      die "$name not ready"
    fi
    sleep 0.5
  done
}

etcd_healthy() { curl -sf -m 3 "http://127.0.0.1:$ETCD_PORT/health" | grep -c '"health":"true"' >/dev/null; }

any_running() {
  local f
  for f in "$PIDS"/*.pid; do [[ -e "$f" ]] && ours "$f" && return 0; done
  return 1
}

cmd_start() {
  (($# == 0)) || die "start takes no arguments"
  need_install
  if ready_quick; then
    log "already running and ready at $API_URL"; print_env; return 0
  fi
  if [[ -d "$PIDS" ]] && any_running; then
    log "running but not ready: stopping first"
    cmd_stop
  fi
  local p
  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    ! port_open "$p" || die "127.0.0.1:$p is taken by a process this script did not start"
  done
  local t0=$SECONDS
  rm -rf "$STATE"
  mkdir -p "$STATE" "$LOGS" "$PIDS" "$DATA"
  chmod 700 "$STATE"
  make_pki
  write_kubeconfigs
  log "etcd on 127.0.0.1:$ETCD_PORT"
  start_etcd
  wait_up etcd 30 etcd_healthy
  log "kube-apiserver on $API_URL"
  start_apiserver
  wait_up kube-apiserver 90 ready_quick
  log "kube-controller-manager"
  start_controller_manager
  # it is up once it has created the token secret of the default ServiceAccount in `default`
  wait_up kube-controller-manager 60 sa_token_ready
  log "ready in $((SECONDS - t0)) s ($(our_rss_mb) MB RSS); logs in $LOGS"
  print_env
}

sa_token_ready() {
  api GET /api/v1/namespaces/default/serviceaccounts/default 2>/dev/null | grep -c '"secrets"' >/dev/null
}

print_env() { echo "export KUBECONFIG=$KUBECONFIG_FILE"; }

our_pids() { local f; for f in "$PIDS"/*.pid; do [[ -e "$f" ]] && ours "$f" && cat "$f"; done; }
our_rss_mb() { our_pids | xargs -r ps -o rss= -p | awk '{s += $1} END {printf "%d", s / 1024}'; }

# ---------------------------------------------------------------------------------------------------------- status
cmd_status() {
  if ready_quick; then
    log "ready at $API_URL ($(our_rss_mb) MB RSS in $(our_pids | wc -l) processes)"
    print_env; return 0
  fi
  log "not ready"
  return 1
}

# ---------------------------------------------------------------------------------------------------------- stop
stop_pidfiles() { # GRACE PIDFILE... : TERM, wait, KILL; only pids that are ours
  local grace="$1"; shift
  local f pid live=()
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    if ours "$f"; then
      pid="$(cat "$f")"; live+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  local end=$((SECONDS + grace)) p
  while ((${#live[@]})) && ((SECONDS < end)); do
    local alive=0
    for p in "${live[@]}"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    ((alive)) || break
    sleep 0.3
  done
  for p in "${live[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$@"
}

cmd_stop() {
  [[ -d "$PIDS" ]] || { log "nothing to stop"; return 0; }
  local first=("$PIDS/kube-controller-manager.pid") f
  for f in "$PIDS"/kubelet-*.pid "$PIDS"/metrics-server.pid; do [[ -e "$f" ]] && first+=("$f"); done
  stop_pidfiles 10 "${first[@]}"             # fake kubelets and the controller manager together
  stop_pidfiles 15 "$PIDS/kube-apiserver.pid"
  stop_pidfiles 10 "$PIDS/etcd.pid"
  log "stopped"
}

# ---------------------------------------------------------------------------------------------------------- fakes
start_fake() { # PIDNAME PORT ARGS... : fake kubelet / metrics server on PORT, wait until it answers
  local name="$1" port="$2"; shift 2
  [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number: $port"
  if ours "$PIDS/$name.pid"; then stop_pidfiles 5 "$PIDS/$name.pid"; fi
  ! port_open "$port" || die "127.0.0.1:$port is taken"
  # the interpreter itself, not a pyenv shim: the pid file must name the process that serves
  local py
  py="$("$PYTHON" -c 'import sys; print(sys.executable)')" || die "no usable Python: $PYTHON"
  spawn "$name" "$py" "$K8SDIR/fake_kubelet.py" --port "$port" \
    --cert "$PKI/kubelet-serving.crt" --key "$PKI/kubelet-serving.key" "$@"
  local end=$((SECONDS + 20))
  until curl -s -m 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$port/healthz" 2>/dev/null | grep -c ok >/dev/null; do
    ours "$PIDS/$name.pid" || { tail -n 20 "$LOGS/$name.log" >&2; die "$name died"; }
    ((SECONDS < end)) || die "$name did not answer on :$port"
    sleep 0.2
  done
}

cmd_kubelet() {
  (($# == 3)) || die "usage: $0 kubelet NODE PORT DATAFILE"
  local node="$1" port="$2" data
  [[ "$node" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "invalid node name: $node"
  [[ -f "$3" ]] || die "no such data file: $3"
  data="$(realpath "$3")"
  ready_quick || die "the apiserver is not ready: run '$0 start' first"
  start_fake "kubelet-$node" "$port" --node "$node" --data "$data"
  # Node object, then its status through the status subresource (a plain update drops status)
  local body
  body="$(printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","labels":{"kubernetes.io/hostname":"%s","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}}}' "$node" "$node")"
  local out
  if ! out="$(api POST /api/v1/nodes -H 'Content-Type: application/json' -d "$body" 2>&1)"; then
    grep -c AlreadyExists <<<"$out" >/dev/null || die "creating Node $node failed: $out"
  fi
  body="$("$PYTHON" "$K8SDIR/fake_kubelet.py" node-status --node "$node" --port "$port" --data "$data")"
  out="$(api PATCH "/api/v1/nodes/$node/status" -H 'Content-Type: application/merge-patch+json' -d "$body" 2>&1)" ||
    die "setting Node $node status failed: $out"
  log "fake kubelet for node $node on 127.0.0.1:$port (data $data, log $LOGS/kubelet-$node.log)"
}

cmd_metrics() {
  (($# >= 1)) || die "usage: $0 metrics PORT [DATAFILE...]"
  local port="$1"; shift
  [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number: $port"
  ready_quick || die "the apiserver is not ready: run '$0 start' first"
  if (($#)); then # a dedicated metrics process over several nodes' data files
    local args=() f
    for f in "$@"; do [[ -f "$f" ]] || die "no such data file: $f"; args+=(--data "$(realpath "$f")"); done
    start_fake metrics-server "$port" "${args[@]}"
  else
    curl -s -m 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$port/healthz" 2>/dev/null | grep -c ok >/dev/null ||
      die "nothing answers on 127.0.0.1:$port: start a fake kubelet first or pass DATAFILEs"
  fi
  sed "s|@PORT@|$port|g" "$K8SDIR/metrics-apiservice.yaml" |
    KUBECONFIG="$KUBECONFIG_FILE" "$BIN/kubectl" apply -f - >&2
  local end=$((SECONDS + 60))
  until KUBECONFIG="$KUBECONFIG_FILE" "$BIN/kubectl" get apiservice v1beta1.metrics.k8s.io \
      -o 'jsonpath={.status.conditions[?(@.type=="Available")].status}' 2>/dev/null | grep -cx True >/dev/null; do
    if ((SECONDS >= end)); then
      KUBECONFIG="$KUBECONFIG_FILE" "$BIN/kubectl" get apiservice v1beta1.metrics.k8s.io -o yaml >&2 || true
      die "APIService v1beta1.metrics.k8s.io did not become Available"
    fi
    sleep 0.5
  done
  # Available comes a moment before the aggregator routes the group (a 404 "page not found" meanwhile)
  until KUBECONFIG="$KUBECONFIG_FILE" "$BIN/kubectl" get --raw /apis/metrics.k8s.io/v1beta1/pods >/dev/null 2>&1; do
    ((SECONDS < end)) || die "metrics.k8s.io/v1beta1 is Available but does not answer"
    sleep 0.5
  done
  log "metrics.k8s.io/v1beta1 Available through $API_URL (backend 127.0.0.1:$port)"
}

cmd_seed() {
  (($# == 1)) && [[ -f "$1" ]] || die "usage: $0 seed MANIFEST.yaml"
  ready_quick || die "the apiserver is not ready: run '$0 start' first"
  KUBECONFIG="$KUBECONFIG_FILE" "$BIN/kubectl" apply -f "$1" >&2
}

# ---------------------------------------------------------------------------------------------------------- main
main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    install) [[ "$(id -u)" == 0 ]] || die "run as root (apt-get, the cache in $CACHE)" ;;
  esac
  case "$cmd" in
    start | stop | kubelet | metrics) # one at a time (a lock beside the state dir, which start wipes)
      mkdir -p "$(dirname "$STATE")"
      exec 9>"$STATE.lock"
      flock -w 180 9 || die "another $0 is still running (lock $STATE.lock)" ;;
  esac
  case "$cmd" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    kubelet) cmd_kubelet "$@" ;;
    metrics) cmd_metrics "$@" ;;
    seed) cmd_seed "$@" ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
