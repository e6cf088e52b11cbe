#!/bin/busybox sh
# /init of Yunguan's tiny test guest (busybox ash, PID 1 in the initramfs built by deploy/dev/libvirt.sh install).
#
# Brings up the virtio devices, mounts the ext4 data disk on /mnt/data, starts qemu-ga on the virtio port named
# org.qemu.guest_agent.0, then runs a known load and prints, on the serial console (ttyS0):
#   LOAD key=value...      once: the load this guest runs (its parameters)
#   READY                  once: qemu-ga runs, the disk is filled, the memory is held, the CPU load runs
#   STAT key=value...      every period: the guest's own view (/proc/stat, /proc/meminfo, statvfs, sysfs counters)
#   ERROR text             something did not come up (the guest keeps running without it)
# Load parameters come from the kernel command line (unknown NAME=VALUE parameters become init's environment).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
: "${YG_CPU_PCT:=50}"       # duty cycle of one busy loop pinned to vCPU 0, percent of that one vCPU
: "${YG_MEM_MIB:=48}"       # MiB kept resident in a tmpfs
: "${YG_FILL_PCT:=40}"      # fill the data disk to this percent of (used + available), as df / qemu-ga count
: "${YG_CHURN_KIB:=1024}"   # each period: write this much to the disk (fsync), drop caches, read it back
: "${YG_NET_FRAMES:=5}"     # each period: this many ICMP echo frames out of eth0 (to a neighbour nobody owns)
: "${YG_NET_SIZE:=1000}"    # ICMP payload bytes per frame (frame = payload + 42 bytes of Ethernet/IP/ICMP headers)
: "${YG_PERIOD_S:=5}"       # seconds between periods (and STAT lines)

/bin/busybox mkdir -p /proc /sys /dev /run /tmp /mnt/data /mnt/mem
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
exec </dev/console >/dev/console 2>&1
stty -onlcr 2>/dev/null || true   # plain \n line ends in the console file, not \r\n
mkdir -p /var && ln -sf /run /var/run
hostname yunguan-guest

err() { echo "ERROR $*"; }

# modules, in dependency order (crc32c-intel fails without SSE4.2 under TCG's qemu64 CPU: harmless)
while read -r ko; do
  insmod "/lib/modules/$ko" 2>/dev/null || case "$ko" in crc32c-intel.ko) ;; *) err "insmod $ko" ;; esac
done </lib/modules/load.order

wait_path() { # PATH TENTHS
  n=0
  while [ ! -e "$1" ] && [ "$n" -lt "$2" ]; do sleep 0.1; n=$((n + 1)); done
  [ -e "$1" ]
}

# data disk
data=0
if wait_path /dev/vda 100 && mount -t ext4 /dev/vda /mnt/data; then data=1; else err "no ext4 data disk on /dev/vda"; fi

# guest agent on the port named org.qemu.guest_agent.0
port=""
n=0
while [ -z "$port" ] && [ "$n" -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port="/dev/${p##*/}"
  done
  [ -n "$port" ] || sleep 0.1
  n=$((n + 1))
done
if [ -n "$port" ] && wait_path "$port" 50; then
  mkdir -p /run/qga
  /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run/qga -l /run/qga.log &
else
  err "no virtio port named org.qemu.guest_agent.0"
fi

# network: an address on eth0 and a permanent neighbour entry for a MAC nobody owns, so the echo requests leave
# the guest as unicast frames the host's tap drops (not for its MAC); nothing answers, rx stays ~0
ip link set lo up
if wait_path /sys/class/net/eth0 50; then
  ip link set eth0 up
  ip addr add 169.254.100.2/24 dev eth0
  arp -i eth0 -s 169.254.100.1 02:00:00:00:00:01
else
  err "no eth0"
fi

# memory: YG_MEM_MIB resident in a tmpfs (Shmem, not reclaimable, lowers MemAvailable)
mount -t tmpfs -o size=$((YG_MEM_MIB + 8))m tmpfs /mnt/mem
dd if=/dev/zero of=/mnt/mem/hold bs=1048576 count="$YG_MEM_MIB" 2>/dev/null || err "tmpfs fill"

# statvfs of the data disk in KiB: used = blocks - free, total = used + available (as df's Use% and qemu-ga's
# guest-get-fsinfo used-bytes/total-bytes count them)
fs_kib() {
  # shellcheck disable=SC2046 # word splitting wanted
  set -- $(stat -f -c '%b %f %a %S' /mnt/data 2>/dev/null)
  [ $# -eq 4 ] || { echo "0 0 0"; return; }
  echo "$((($1 - $2) * $4 / 1024)) $((($1 - $2 + $3) * $4 / 1024)) $(($1 * $4 / 1024))"
}

# disk: the churn file first (its size stays constant), then fill.bin up to YG_FILL_PCT of used + available
if [ "$data" = 1 ]; then
  dd if=/dev/zero of=/mnt/data/churn.bin bs=1024 count="$YG_CHURN_KIB" conv=fsync 2>/dev/null
  # shellcheck disable=SC2046 # word splitting wanted
  set -- $(fs_kib)
  need=$(($2 * YG_FILL_PCT / 100 - $1))
  if [ "$need" -gt 0 ]; then
    dd if=/dev/zero of=/mnt/data/fill.bin bs=1024 count="$need" conv=fsync 2>/dev/null || err "disk fill"
  fi
  sync
fi

# CPU: one busy loop pinned to vCPU 0, stopped and continued so it runs YG_CPU_PCT of each 200 ms
cpu_load() {
  on=$((YG_CPU_PCT * 2)) off=$((200 - YG_CPU_PCT * 2))
  [ "$on" -gt 0 ] || return 0
  sh -c 'while :; do :; done' &
  busy=$!
  taskset -p 1 "$busy" >/dev/null 2>&1 || true
  [ "$off" -gt 0 ] || return 0
  son=$(printf '0.%03d' "$on") soff=$(printf '0.%03d' "$off")
  [ "$on" -lt 1000 ] || son=1
  (
    while :; do
      kill -CONT "$busy"; sleep "$son"; kill -STOP "$busy"; sleep "$soff"
    done
  ) &
}
cpu_load

echo "LOAD cpu_pct_of_one_vcpu=$YG_CPU_PCT cpu_vcpu=0 mem_tmpfs_mib=$YG_MEM_MIB disk_fill_pct=$YG_FILL_PCT" \
  "disk_churn_kib=$YG_CHURN_KIB net_frames=$YG_NET_FRAMES net_frame_bytes=$((YG_NET_SIZE + 42))" \
  "period_s=$YG_PERIOD_S clk_tck=100"
echo READY

sysval() { cat "$1" 2>/dev/null || echo 0; }

stat_line() {
  # /proc/stat "cpu" line: user nice system idle iowait irq softirq steal (USER_HZ = 100 ticks per second)
  read -r _ u ni sy idl io hi si st _ </proc/stat
  busy=$((u + ni + sy + hi + si + st)) total=$((u + ni + sy + idl + io + hi + si + st))
  mem=$(awk '/^MemTotal:/{t=$2} /^MemFree:/{f=$2} /^MemAvailable:/{a=$2} /^Shmem:/{s=$2}
    END{printf "mem_total_kib=%d mem_free_kib=%d mem_available_kib=%d mem_shmem_kib=%d", t, f, a, s}' /proc/meminfo)
  # shellcheck disable=SC2046 # word splitting wanted
  set -- $(fs_kib)
  fs="df_used_bytes=$(($1 * 1024)) df_total_bytes=$(($2 * 1024)) df_size_bytes=$(($3 * 1024))"
  # /sys/block/vda/stat: reads completed, merged, sectors read, ticks, writes completed, merged, sectors written...
  # shellcheck disable=SC2046 # word splitting wanted
  set -- $(cat /sys/block/vda/stat 2>/dev/null || echo 0 0 0 0 0 0 0)
  blk="blk_rd_reqs=$1 blk_rd_bytes=$(($3 * 512)) blk_wr_reqs=$5 blk_wr_bytes=$(($7 * 512))"
  n=/sys/class/net/eth0/statistics
  net="net_tx_bytes=$(sysval $n/tx_bytes) net_tx_pkts=$(sysval $n/tx_packets)"
  net="$net net_rx_bytes=$(sysval $n/rx_bytes) net_rx_pkts=$(sysval $n/rx_packets)"
  read -r up _ </proc/uptime
  echo "STAT seq=$seq uptime_s=$up cpu_busy_ticks=$busy cpu_total_ticks=$total cpu_idle_ticks=$idl" \
    "cpu_user_ticks=$u cpu_system_ticks=$sy ncpu=$(nproc) $mem $fs $blk $net"
}

# disk and network activity in the background, so STAT lines come every YG_PERIOD_S seconds
(
  while :; do
    sleep "$YG_PERIOD_S"
    if [ "$data" = 1 ]; then
      dd if=/dev/zero of=/mnt/data/churn.bin bs=1024 count="$YG_CHURN_KIB" conv=fsync,notrunc 2>/dev/null
      echo 3 >/proc/sys/vm/drop_caches
      dd if=/mnt/data/churn.bin of=/dev/null bs=65536 2>/dev/null
    fi
    if [ "$YG_NET_FRAMES" -gt 0 ]; then
      ping -q -c "$YG_NET_FRAMES" -i 0.2 -s "$YG_NET_SIZE" -W 1 169.254.100.1 >/dev/null 2>&1
    fi
  done
) &

seq=0
while :; do
  stat_line
  seq=$((seq + 1))
  sleep "$YG_PERIOD_S"
done
