#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm test and for trying `sweep slurm`:
# munged, slurmctld and slurmd started by hand (no systemd), with their config, state and logs
# in a folder of their own (nothing under /etc/slurm is touched).
#
#   scripts/slurm-single-node.sh start [STATE_DIR]   # prints `export SLURM_CONF=…` last
#   scripts/slurm-single-node.sh stop  [STATE_DIR]   # stops what `start` started
#
# Needs root and Debian's packages: apt-get install -y slurm-wlm munge
# Ports: $MNIST_LAB_SLURM_PORT (slurmctld, default 6917) and the next one (slurmd), away from a
# real cluster's 6817/6818.
set -euo pipefail

action=${1:-}
D=${2:-${TMPDIR:-/tmp}/mnist-lab-slurm}
port=${MNIST_LAB_SLURM_PORT:-6917}
conf=$D/slurm.conf

die() { echo "slurm-single-node: $*" >&2; exit 1; }
case "$port" in '' | *[!0-9]*) die "MNIST_LAB_SLURM_PORT=$port is not a port number" ;; esac
[ "$port" -ge 1024 ] && [ "$port" -le 65534 ] || die "MNIST_LAB_SLURM_PORT=$port is not in 1024..65534"

# Stop a daemon by the pid file it (or we) wrote, and wait until it is gone.
stop_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$1"
}

stop() {
    stop_pid "$D/slurmd.pid"
    stop_pid "$D/slurmctld.pid"
    # munged only when this script started it (it may serve a Slurm that was here before).
    if [ -f "$D/munged.ours" ]; then
        stop_pid /run/munge/munged.pid
        rm -f "$D/munged.ours"
    fi
}

start() {
    [ "$(id -u)" = 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
    for exe in munged mungekey slurmctld slurmd sbatch sinfo; do
        command -v "$exe" >/dev/null || die "$exe not found: apt-get install -y slurm-wlm munge"
    done
    stop # an earlier start in the same folder
    rm -rf "$D/ctld" "$D/d"
    mkdir -p "$D/ctld" "$D/d" "$D/log"

    # munge: the package's post-install makes the key; make it when missing.
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 600 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        touch "$D/munged.ours"
    fi
    munge -n | unmunge >/dev/null || die "munge does not work"

    local host mem
    host=$(hostname -s)
    mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
    cat > "$conf" <<EOF
ClusterName=mnistlab
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/d
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$conf
    slurmctld -f "$conf" || die "slurmctld did not start; see $D/log/slurmctld.log"
    slurmd -f "$conf" || die "slurmd did not start; see $D/log/slurmd.log"
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
        [ "$state" = idle ] && break
        case "$state" in down* | drain*) scontrol update nodename="$host" state=resume || true ;; esac
        sleep 1
    done
    if [ "$state" != idle ]; then
        tail -n 20 "$D/log/slurmctld.log" "$D/log/slurmd.log" >&2 || true
        die "node $host is '${state:-unknown}', not idle, after 60 s"
    fi
    echo "single-node Slurm up: node $host idle, partition debug, state in $D" >&2
    echo "export SLURM_CONF=$conf"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop [STATE_DIR]" ;;
esac
