#!/usr/bin/env bash
# A real, local libvirt (libvirtd 9.0 + QEMU 7.2, TCG) on 127.0.0.1 for Yunguan's hypervisor-collector tests, and a
# tiny real guest with a known load. See deploy/dev/libvirt/README.md.
#
#   deploy/dev/libvirt.sh install              # apt packages + the guest's kernel/initramfs (cached, idempotent)
#   deploy/dev/libvirt.sh start                # virtlogd + libvirtd: qemu:///system, TCP 16509, TLS 16514
#   deploy/dev/libvirt.sh status               # exit 0 when libvirtd answers (local socket, TCP and TLS)
#   deploy/dev/libvirt.sh guest-start [NAME]   # define + start the guest, wait for READY, print UUID and console
#   deploy/dev/libvirt.sh guest-stop [NAME]    # destroy + undefine the guest, remove its tap
#   deploy/dev/libvirt.sh stop                 # guests, libvirtd, virtlogd; restore /etc/libvirt/qemu.conf
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LVDIR="$HERE/libvirt"
CACHE="${YUNGUAN_CACHE:-/var/cache/yunguan}"
STATE="${YUNGUAN_LIBVIRT_STATE:-/var/tmp/yunguan-libvirt}"
PYTHON="${YUNGUAN_LIBVIRT_PYTHON:-$(command -v python3.11 || command -v python3)}"
TCP_PORT=16509   # libvirt's standard ports: the client derives them from the URI scheme
TLS_PORT=16514
GUEST_DEFAULT=yunguan-guest
GUEST_TIMEOUT="${YUNGUAN_LIBVIRT_GUEST_TIMEOUT:-180}"   # seconds to wait for READY on the console
# Fixed owner of the guest in its Nova metadata (override to test mapping to another project)
GUEST_PROJECT="${YUNGUAN_LIBVIRT_GUEST_PROJECT:-6a1f3c2e-9b4d-4e8a-b7c5-0d2e4f6a8b10}"
GUEST_USER="${YUNGUAN_LIBVIRT_GUEST_USER:-3c9e7a51-2f4b-4d6e-8a0c-1b3d5f7e9a20}"
GUEST_LOAD="${YUNGUAN_LIBVIRT_GUEST_LOAD:-}"   # extra kernel parameters, e.g. "YG_CPU_PCT=80 YG_MEM_MIB=64"

APT_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  gcc qemu-system-x86 qemu-utils scrub busybox-static cpio openssl kmod e2fsprogs iproute2)
INSTALL_MARKER="$CACHE/libvirt-installed"
GUEST_CACHE="$CACHE/libvirt-guest"
GUEST_RECIPE=1   # bump when the build steps below change; the init script's hash is part of the key too
GUEST_MODULES=(virtio_pci virtio_balloon virtio_blk virtio_net virtio_console crc32c_generic ext4)
DATA_DISK_MIB=64

PKI="$STATE/pki"; SRVPKI="$STATE/server-pki"; LOGS="$STATE/logs"; PIDS="$STATE/pids"; BACKUP="$STATE/backup"
GUESTS="$STATE/guests"; NODES="$STATE/nodes"
CONF="$STATE/libvirtd.conf"
QEMU_CONF=/etc/libvirt/qemu.conf
NET_AUTOSTART=/etc/libvirt/qemu/networks/autostart/default.xml
CLIENT_CN=yunguan-libvirt-client

log() { printf '[libvirt.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------- install
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c 'install ok installed' >/dev/null || echo "$p"
  done
}

install_marker_key() { echo "${APT_PACKAGES[*]}"; }

apt_install() {
  local missing
  mapfile -t missing < <(apt_missing "${APT_PACKAGES[@]}")
  ((${#missing[@]})) || return 0
  log "apt-get install ${missing[*]}"
  # Debian's maintainer scripts would start libvirtd and virtlogd (invoke-rc.d); this script starts its own.
  local policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=1
  ((rc)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    rc=1
  ((policy == 0)) || rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || die "apt-get install failed"
}

guest_key() { { echo "recipe=$GUEST_RECIPE disk=${DATA_DISK_MIB}MiB modules=${GUEST_MODULES[*]}"; cat "$LVDIR/guest-init.sh"; } |
  sha256sum | cut -c1-16; }

guest_ok() {
  [[ -f "$GUEST_CACHE/vmlinuz" && -f "$GUEST_CACHE/initrd.gz" && -f "$GUEST_CACHE/data-empty.qcow2" &&
    "$(cat "$GUEST_CACHE/VERSION" 2>/dev/null)" == "$(guest_key)" ]]
}

apt_download() { # DIR PACKAGE... : download .debs into DIR (apt-get update once if the lists are missing or stale)
  local dir="$1"; shift
  (cd "$dir" && apt-get download -q "$@") >>"$dir/download.log" 2>&1 && return 0
  log "apt-get download failed; apt-get update and retry"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  (cd "$dir" && apt-get download -q "$@") >>"$dir/download.log" 2>&1 ||
    { tail -n 20 "$dir/download.log" >&2; die "apt-get download $* failed"; }
}

build_guest() {
  local work="$CACHE/libvirt-guest-build" t0=$SECONDS
  rm -rf "$work"
  mkdir -p "$work/debs"
  local kpkg
  kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
  [[ -n "$kpkg" ]] || die "cannot resolve linux-image-amd64 to a linux-image-6.1.0-*-amd64 package (apt-get update?)"
  log "guest: downloading $kpkg and qemu-guest-agent (extracted, never installed)"
  apt_download "$work/debs" "$kpkg" qemu-guest-agent
  dpkg-deb -x "$work"/debs/linux-image-*.deb "$work/kernel"
  dpkg-deb -x "$work"/debs/qemu-guest-agent_*.deb "$work/qga"
  local kver
  kver="$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")"
  [[ -f "$work/kernel/boot/vmlinuz-$kver" ]] || die "no vmlinuz-$kver in $kpkg"
  depmod -b "$work/kernel" "$kver"

  log "guest: initramfs (busybox-static, ${GUEST_MODULES[*]}, qemu-ga)"
  local root="$work/root" m ko
  mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,mnt,usr/sbin,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  mknod -m 600 "$root/dev/console" c 5 1
  mknod -m 666 "$root/dev/null" c 1 3
  install -m 0755 "$LVDIR/guest-init.sh" "$root/init"
  : >"$root/lib/modules/load.order"
  for m in "${GUEST_MODULES[@]}"; do
    while read -r ko; do
      ko="${ko#insmod }"; ko="${ko%% *}"
      [[ "$ko" == *.ko ]] || continue
      grep -qxF "$(basename "$ko")" "$root/lib/modules/load.order" && continue
      cp "$ko" "$root/lib/modules/"
      basename "$ko" >>"$root/lib/modules/load.order"
    done < <(modprobe -d "$work/kernel" -S "$kver" --show-depends "$m")
  done
  install -m 0755 "$work/qga/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
  local lib
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$work/qga/usr/sbin/qemu-ga" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}')
  if ldd "$work/qga/usr/sbin/qemu-ga" | grep -c 'not found' >/dev/null; then
    ldd "$work/qga/usr/sbin/qemu-ga" >&2; die "qemu-ga needs libraries this machine lacks"
  fi
  (cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 >"$work/initrd.gz"

  log "guest: ${DATA_DISK_MIB} MiB ext4 data disk template"
  truncate -s "${DATA_DISK_MIB}M" "$work/data.raw"
  # lazy init off: no ext4lazyinit writes in the guest after boot, the disk I/O is only the known load
  mkfs.ext4 -q -F -L ygdata -E lazy_itable_init=0,lazy_journal_init=0 "$work/data.raw"
  qemu-img convert -q -f raw -O qcow2 "$work/data.raw" "$work/data-empty.qcow2"

  rm -rf "$GUEST_CACHE.tmp"
  mkdir -p "$GUEST_CACHE.tmp"
  cp "$work/kernel/boot/vmlinuz-$kver" "$GUEST_CACHE.tmp/vmlinuz"
  cp "$work/initrd.gz" "$work/data-empty.qcow2" "$GUEST_CACHE.tmp/"
  printf 'kernel %s (%s)\nqemu-guest-agent %s\nbusybox %s\nmodules %s\n' "$kver" "$kpkg" \
    "$(dpkg-deb -f "$work"/debs/qemu-guest-agent_*.deb Version)" "$(dpkg-query -W -f='${Version}' busybox-static)" \
    "$(tr '\n' ' ' <"$root/lib/modules/load.order")" >"$GUEST_CACHE.tmp/BUILDINFO"
  guest_key >"$GUEST_CACHE.tmp/VERSION"
  rm -rf "$GUEST_CACHE" && mv "$GUEST_CACHE.tmp" "$GUEST_CACHE"
  rm -rf "$work"
  log "guest: built in $((SECONDS - t0)) s: $GUEST_CACHE (initramfs $(du -k "$GUEST_CACHE/initrd.gz" | cut -f1) KiB)"
}

cmd_install() {
  (($# == 0)) || die "install takes no arguments"
  mkdir -p "$CACHE"
  if [[ "$(cat "$INSTALL_MARKER" 2>/dev/null)" == "$(install_marker_key)" ]] && command -v libvirtd >/dev/null &&
    command -v virsh >/dev/null && command -v qemu-system-x86_64 >/dev/null; then
    log "apt packages installed (marker $INSTALL_MARKER)"
  else
    apt_install
    install_marker_key >"$INSTALL_MARKER"
    log "apt packages installed"
  fi
  exec 8>"$GUEST_CACHE.lock"
  flock -w 300 8 || die "another install is building the guest (lock $GUEST_CACHE.lock)"
  if guest_ok; then
    log "guest kernel/initramfs cached in $GUEST_CACHE"
  else
    build_guest
  fi
  exec 8>&-
  log "installed: $(libvirtd --version), $(qemu-system-x86_64 --version | head -n 1)"
}

need_install() {
  if ! command -v libvirtd >/dev/null || ! command -v virtlogd >/dev/null || ! command -v virsh >/dev/null; then
    die "libvirt is not installed: run '$0 install' first"
  fi
}

# ---------------------------------------------------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ours PIDFILE : the pid is alive and its command line names our state dir (so a recycled pid is never touched)
ours() {
  local f="$1" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "$STATE/" >/dev/null
}

vsh() { virsh -q -c qemu:///system "$@"; }

tls_uri() { echo "${1:-qemu}+tls://127.0.0.1${2:-/system}?pkipath=$PKI"; }

answers_local() { timeout 10 virsh -c qemu:///system version >/dev/null 2>&1; }
answers_remote() {
  timeout 10 virsh -c "qemu+tcp://127.0.0.1/system" version >/dev/null 2>&1 &&
    timeout 10 virsh -c "$(tls_uri)" version >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------------------- PKI
# sign NAME CN EXTENSIONS : key + cert signed by the run's CA (ECDSA P-256; GnuTLS on both sides takes it)
sign() {
  local name="$1" cn="$2" ext="$3"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$SRVPKI/$name-key.pem" \
    -subj "/O=Yunguan/CN=$cn" -out "$SRVPKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$SRVPKI/$name.ext"
  openssl x509 -req -in "$SRVPKI/$name.csr" -CA "$SRVPKI/cacert.pem" -CAkey "$SRVPKI/cakey.pem" -CAcreateserial \
    -days 30 -extfile "$SRVPKI/$name.ext" -out "$SRVPKI/$name-cert.pem" 2>/dev/null
  rm -f "$SRVPKI/$name.csr" "$SRVPKI/$name.ext"
}

make_pki() {
  rm -rf "$PKI" "$SRVPKI"
  mkdir -p "$PKI" "$SRVPKI"
  chmod 700 "$SRVPKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$SRVPKI/cakey.pem" \
    -out "$SRVPKI/cacert.pem" -days 30 -subj "/O=Yunguan/CN=yunguan-libvirt-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign server localhost 'basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost'
  sign client "$CLIENT_CN" 'basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
  # the client's pkipath directory: exactly the three names libvirt looks for
  cp "$SRVPKI/cacert.pem" "$PKI/cacert.pem"
  cp "$SRVPKI/client-cert.pem" "$PKI/clientcert.pem"
  cp "$SRVPKI/client-key.pem" "$PKI/clientkey.pem"
  chmod 600 "$SRVPKI"/*key.pem "$PKI/clientkey.pem"
}

# ---------------------------------------------------------------------------------------------------------- global edits
# qemu.conf: QEMU as root. With the default user libvirt-qemu every domain start takes ~60 s here (libvirt re-probes
# QEMU because /dev/kvm is root-only). The original is kept in $BACKUP and put back by stop.
patch_qemu_conf() {
  mkdir -p "$BACKUP"
  if [[ ! -f "$BACKUP/qemu.conf" ]]; then
    cp -p "$QEMU_CONF" "$BACKUP/qemu.conf"
  fi
  {
    sed -E '/^[[:space:]]*(user|group)[[:space:]]*=/d' "$BACKUP/qemu.conf"
    printf '\n# Added by Yunguan deploy/dev/libvirt.sh start (original restored by stop, kept in %s)\n' "$BACKUP"
    printf 'user = "root"\ngroup = "root"\n'
  } >"$QEMU_CONF.yunguan"
  chmod 600 "$QEMU_CONF.yunguan"
  mv "$QEMU_CONF.yunguan" "$QEMU_CONF"
}

restore_qemu_conf() {
  if [[ -f "$BACKUP/qemu.conf" ]]; then
    cp -p "$BACKUP/qemu.conf" "$QEMU_CONF"
    rm -f "$BACKUP/qemu.conf"
    log "restored $QEMU_CONF"
  fi
}

# the default NAT network would need dnsmasq and a bridge: not autostarted while this libvirtd runs
disable_default_network() {
  if [[ -L "$NET_AUTOSTART" || -e "$NET_AUTOSTART" ]]; then
    mkdir -p "$BACKUP"
    readlink "$NET_AUTOSTART" >"$BACKUP/default-network-autostart" || echo ../default.xml >"$BACKUP/default-network-autostart"
    rm -f "$NET_AUTOSTART"
    log "default network autostart removed (restored by stop)"
  fi
}

restore_default_network() {
  if [[ -f "$BACKUP/default-network-autostart" ]]; then
    ln -sfn "$(cat "$BACKUP/default-network-autostart")" "$NET_AUTOSTART"
    rm -f "$BACKUP/default-network-autostart"
    log "restored default network autostart"
  fi
}

# ---------------------------------------------------------------------------------------------------------- start
write_conf() {
  cat >"$CONF" <<EOF
# libvirtd for Yunguan's tests (deploy/dev/libvirt.sh start). Loopback only.
listen_tls = 1
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$TCP_PORT"
tls_port = "$TLS_PORT"
# tests only: plain TCP without authentication. TLS authenticates the client by its certificate.
auth_tcp = "none"
auth_tls = "none"
key_file = "$SRVPKI/server-key.pem"
cert_file = "$SRVPKI/server-cert.pem"
ca_file = "$SRVPKI/cacert.pem"
tls_allowed_dn_list = ["O=Yunguan,CN=$CLIENT_CN"]   # as virt-pki-query-dn prints it
log_outputs = "3:file:$LOGS/libvirtd.log"
max_clients = 2500   # the sweep benchmark keeps one link per simulated host (1,000+)
max_anonymous_clients = 200
max_workers = 20
keepalive_interval = 5
EOF
}

cmd_start() {
  (($# == 0)) || die "start takes no arguments"
  need_install
  if ours "$PIDS/libvirtd.pid" && answers_local && answers_remote; then
    log "already running"; print_env; return 0
  fi
  if [[ -d "$PIDS" ]] && { ours "$PIDS/libvirtd.pid" || ours "$PIDS/virtlogd.pid"; }; then
    log "running but not answering: stopping first"
    cmd_stop
  fi
  local p
  p="$(pgrep -x libvirtd || true)"
  [[ -z "$p" ]] || die "a libvirtd this script did not start is running (pid $p): stop it first"
  p="$(pgrep -x virtlogd || true)"
  [[ -z "$p" ]] || die "a virtlogd this script did not start is running (pid $p): stop it first"
  for p in "$TCP_PORT" "$TLS_PORT"; do
    ! port_open "$p" || die "127.0.0.1:$p is taken by a process this script did not start"
  done
  local t0=$SECONDS
  mkdir -p "$STATE" "$BACKUP"
  chmod 700 "$STATE"
  rm -rf "$LOGS" "$PIDS" "$NODES" "$CONF"
  mkdir -p "$LOGS" "$PIDS" "$GUESTS"
  make_pki
  write_conf
  patch_qemu_conf
  disable_default_network
  log "virtlogd"
  (exec virtlogd -d -p "$PIDS/virtlogd.pid" 9>&-) >>"$LOGS/virtlogd.out" 2>&1
  local end=$((SECONDS + 20))
  until ours "$PIDS/virtlogd.pid"; do
    ((SECONDS < end)) || { tail -n 20 "$LOGS/virtlogd.out" >&2; die "virtlogd did not start"; }
    sleep 0.2
  done
  log "libvirtd (qemu:///system, tcp 127.0.0.1:$TCP_PORT, tls 127.0.0.1:$TLS_PORT)"
  (exec libvirtd -d -l -f "$CONF" -p "$PIDS/libvirtd.pid" 9>&-) >>"$LOGS/libvirtd.out" 2>&1 ||
    { tail -n 20 "$LOGS/libvirtd.out" "$LOGS/libvirtd.log" >&2 || true; die "libvirtd failed to start"; }
  end=$((SECONDS + 90))
  until ours "$PIDS/libvirtd.pid" && answers_local; do
    if ((SECONDS >= end)) || { [[ -f "$PIDS/libvirtd.pid" ]] && ! ours "$PIDS/libvirtd.pid"; }; then
      tail -n 30 "$LOGS/libvirtd.log" >&2 || true
      die "libvirtd did not answer on qemu:///system"
    fi
    sleep 0.3
  done
  answers_remote || { tail -n 30 "$LOGS/libvirtd.log" >&2; die "libvirtd answers locally but not over TCP/TLS"; }
  # our guests left defined by a libvirtd that died before guest-stop could undefine them
  local d name
  for d in "$GUESTS"/*/; do
    name="$(basename "$d")"
    if [[ -d "$d" ]] && vsh dominfo "$name" >/dev/null 2>&1 && [[ "$(vsh domstate "$name" 2>/dev/null)" != running ]]; then
      if vsh undefine "$name" >/dev/null 2>&1; then log "undefined leftover guest $name"; fi
    fi
  done
  "$PYTHON" "$LVDIR/make_nodes.py" --hosts 2 --domains 10 --unknown 2 --seed 1 --out "$NODES" 2>/dev/null
  timeout 10 virsh -c "$(tls_uri test "$NODES/host-01.xml")" list --all >/dev/null ||
    die "test driver over TLS failed"
  log "ready in $((SECONDS - t0)) s ($(our_rss_mb) MB RSS); logs in $LOGS"
  print_env
}

print_env() {
  echo "export YUNGUAN_LIBVIRT_STATE=$STATE"
  echo "# qemu:///system  qemu+tcp://127.0.0.1/system  $(tls_uri)"
  echo "# test+tls://127.0.0.1$NODES/host-01.xml?pkipath=$PKI"
}

our_rss_mb() {
  local f
  for f in "$PIDS"/*.pid; do if ours "$f"; then echo "$(<"$f")"; fi; done |
    xargs -r -n 1 ps -o rss= -p | awk '{s += $1} END {printf "%d", s / 1024}'
}

# ---------------------------------------------------------------------------------------------------------- status
cmd_status() {
  if ours "$PIDS/libvirtd.pid" && answers_local && answers_remote; then
    local n
    n="$(vsh list --name 2>/dev/null | grep -c . || true)"
    log "ready: libvirtd $(libvirtd --version | awk '{print $NF}') ($(our_rss_mb) MB RSS), $n running domains"
    print_env; return 0
  fi
  if answers_local; then
    log "a libvirtd answers on qemu:///system, but not the one this script starts (or not over TCP/TLS)"
  else
    log "not running"
  fi
  return 1
}

# ---------------------------------------------------------------------------------------------------------- stop
stop_pidfile() { # GRACE PIDFILE : TERM, wait, KILL; only a pid that is ours
  local grace="$1" f="$2" pid
  if ours "$f"; then
    pid="$(cat "$f")"
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

cmd_stop() {
  (($# == 0)) || die "stop takes no arguments"
  local d
  for d in "$GUESTS"/*/; do
    if [[ -f "$d/uuid" ]]; then guest_stop "$(basename "$d")"; fi
  done
  if [[ -d "$PIDS" ]]; then
    stop_pidfile 20 "$PIDS/libvirtd.pid"
    stop_pidfile 10 "$PIDS/virtlogd.pid"
  fi
  restore_qemu_conf
  restore_default_network
  log "stopped"
}

# ---------------------------------------------------------------------------------------------------------- guest
guest_vars() { # NAME : sets G_* for the guest NAME (all derived from the name: the same name, the same guest)
  local name="$1" h
  [[ "$name" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$ ]] || die "invalid guest name: $name"
  h="$(printf 'yunguan-libvirt-guest:%s' "$name" | sha256sum)"
  G_NAME="$name"
  G_UUID="${h:0:8}-${h:8:4}-4${h:13:3}-8${h:17:3}-${h:20:12}"
  G_TAP="ygt-${h:0:8}"
  G_MAC="52:54:00:${h:24:2}:${h:26:2}:${h:28:2}"
  G_DIR="$GUESTS/$name"
  G_CONSOLE="$G_DIR/console.log"
  G_DISK="$G_DIR/data.qcow2"
}

guest_print() {
  echo "YUNGUAN_LIBVIRT_GUEST_NAME=$G_NAME"
  echo "YUNGUAN_LIBVIRT_GUEST_UUID=$G_UUID"
  echo "YUNGUAN_LIBVIRT_GUEST_CONSOLE=$G_CONSOLE"
  echo "YUNGUAN_LIBVIRT_GUEST_DISK=$G_DISK"
  echo "YUNGUAN_LIBVIRT_GUEST_TAP=$G_TAP"
}

make_tap() {
  if ! ip link show "$G_TAP" >/dev/null 2>&1; then
    ip tuntap add dev "$G_TAP" mode tap
  fi
  # the host says nothing on the tap (no IPv6 autoconf, no address): the guest's counters show only its own load
  if [[ -e "/proc/sys/net/ipv6/conf/$G_TAP/disable_ipv6" ]]; then
    echo 1 >"/proc/sys/net/ipv6/conf/$G_TAP/disable_ipv6"
  fi
  ip link set "$G_TAP" up
}

wait_ready() { # wait for READY on the console; fail fast when the domain stops or the kernel panics
  local end=$((SECONDS + GUEST_TIMEOUT))
  until grep -q $'^READY\r\\?$' "$G_CONSOLE" 2>/dev/null; do
    if [[ "$(vsh domstate "$G_NAME" 2>/dev/null)" != running ]] || grep -q 'Kernel panic' "$G_CONSOLE" 2>/dev/null; then
      tail -n 20 "$G_CONSOLE" >&2 2>/dev/null || true
      die "guest $G_NAME is not running (console $G_CONSOLE)"
    fi
    if ((SECONDS >= end)); then
      tail -n 20 "$G_CONSOLE" >&2 2>/dev/null || true
      die "guest $G_NAME: no READY on $G_CONSOLE after ${GUEST_TIMEOUT}s"
    fi
    sleep 0.5
  done
  if grep '^ERROR ' "$G_CONSOLE" >&2; then log "guest $G_NAME reported errors (above)"; fi
}

cmd_guest_start() {
  (($# <= 1)) || die "usage: $0 guest-start [NAME]"
  guest_vars "${1:-$GUEST_DEFAULT}"
  if ! ours "$PIDS/libvirtd.pid" || ! answers_local; then die "libvirtd is not running: run '$0 start' first"; fi
  guest_ok || die "the guest image in $GUEST_CACHE is missing or stale: run '$0 install' first"
  if [[ "$(vsh domstate "$G_NAME" 2>/dev/null)" == running && -f "$G_DIR/uuid" ]] &&
    ! grep -q 'Kernel panic' "$G_CONSOLE" 2>/dev/null; then
    log "guest $G_NAME already running"
    wait_ready
    guest_print; return 0
  fi
  if vsh dominfo "$G_NAME" >/dev/null 2>&1; then
    log "guest $G_NAME defined but not running (or broken): redefining"
    vsh destroy "$G_NAME" >/dev/null 2>&1 || true
    vsh undefine "$G_NAME" >/dev/null
  fi
  local t0=$SECONDS
  mkdir -p "$G_DIR"
  rm -f "$G_CONSOLE" "$G_DISK"
  cp "$GUEST_CACHE/data-empty.qcow2" "$G_DISK"
  echo "$G_UUID" >"$G_DIR/uuid"
  echo "$G_TAP" >"$G_DIR/tap"
  make_tap
  sed -e "s|@NAME@|$G_NAME|g" -e "s|@UUID@|$G_UUID|g" -e "s|@KERNEL@|$GUEST_CACHE/vmlinuz|g" \
    -e "s|@INITRD@|$GUEST_CACHE/initrd.gz|g" -e "s|@DISK@|$G_DISK|g" -e "s|@CONSOLE@|$G_CONSOLE|g" \
    -e "s|@TAP@|$G_TAP|g" -e "s|@MAC@|$G_MAC|g" -e "s|@PROJECT_UUID@|$GUEST_PROJECT|g" \
    -e "s|@USER_UUID@|$GUEST_USER|g" -e "s|@LOAD@|$GUEST_LOAD|g" "$LVDIR/guest.xml.in" >"$G_DIR/domain.xml"
  if grep -n '@[A-Z_]*@' "$G_DIR/domain.xml" >&2; then die "unrendered placeholder in $G_DIR/domain.xml"; fi
  vsh define "$G_DIR/domain.xml" >/dev/null
  vsh start "$G_NAME" >/dev/null
  log "guest $G_NAME ($G_UUID) started, waiting for READY on $G_CONSOLE"
  wait_ready
  log "guest $G_NAME ready in $((SECONDS - t0)) s"
  guest_print
}

guest_stop() { # NAME
  guest_vars "$1"
  local tap="$G_TAP"
  if [[ -f "$G_DIR/tap" ]]; then tap="$(cat "$G_DIR/tap")"; fi
  if answers_local; then
    if ! vsh dominfo "$G_NAME" >/dev/null 2>&1 && [[ ! -f "$G_DIR/uuid" ]]; then
      log "guest $G_NAME: not defined, nothing to stop"; return 0
    fi
    vsh destroy "$G_NAME" >/dev/null 2>&1 || true
    vsh undefine "$G_NAME" >/dev/null 2>&1 || true
  else # libvirtd is gone but QEMU may still run: stop it by its pid file, if the command line is our guest's
    local pf="/run/libvirt/qemu/$G_NAME.pid" pid
    if [[ -f "$pf" ]]; then
      pid="$(cat "$pf")"
      if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "guest=$G_NAME," >/dev/null
      then
        kill -TERM "$pid" 2>/dev/null || true
        log "guest $G_NAME: libvirtd not running, sent TERM to QEMU pid $pid"
      fi
    fi
  fi
  if ip link show "$tap" >/dev/null 2>&1; then ip link delete "$tap" 2>/dev/null || true; fi
  rm -f "$G_DISK" "$G_DIR/uuid" "$G_DIR/tap"
  log "guest $G_NAME stopped (console kept: $G_CONSOLE)"
}

cmd_guest_stop() {
  (($# <= 1)) || die "usage: $0 guest-stop [NAME]"
  guest_stop "${1:-$GUEST_DEFAULT}"
}

# ---------------------------------------------------------------------------------------------------------- main
main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    install | start | stop | guest-start | guest-stop)
      [[ "$(id -u)" == 0 ]] || die "run as root (apt-get, /etc/libvirt/qemu.conf, libvirtd, taps)" ;;
  esac
  case "$cmd" in
    start | stop | guest-start | guest-stop) # one at a time (a lock beside the state dir)
      mkdir -p "$(dirname "$STATE")"
      exec 9>"$STATE.lock"
      flock -w 300 9 || die "another $0 is still running (lock $STATE.lock)" ;;
  esac
  case "$cmd" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    guest-start) cmd_guest_start "$@" ;;
    guest-stop) cmd_guest_stop "$@" ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
