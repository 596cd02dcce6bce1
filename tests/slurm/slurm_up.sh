#!/usr/bin/env bash
# tests/slurm/slurm_up.sh — a real one-node Slurm on this machine, for the
# Slurm tests and for trying jobs/*.sbatch by hand (docs/platform.md,
# "Slurm on one machine"). As root; no systemd needed.
#
#   MT_SLURM_DIR=/tmp/my-slurm bash tests/slurm/slurm_up.sh   # start
#   . /tmp/my-slurm/env.sh                                    # SLURM_CONF=...
#   sbatch ...; squeue; sinfo
#   MT_SLURM_DIR=/tmp/my-slurm bash tests/slurm/slurm_down.sh # stop
#
# Steps:
#   1. installs slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge
#      with apt when one is missing (jobs/setup.sh installs them too);
#   2. stops what is left of an earlier instance (this state dir's daemons,
#      and any daemon of an instance slurm_up.sh started elsewhere that was
#      killed before its slurm_down.sh: they would hold the ports);
#   3. writes $MT_SLURM_DIR/slurm.conf (see gen_conf below) with every
#      directory and file under $MT_SLURM_DIR, fresh state each time;
#   4. starts munged as user munge on a private socket in $MT_SLURM_DIR/munge
#      (with /etc/munge/munge.key, or a key generated there when that is
#      missing), then slurmctld and slurmd;
#   5. waits (MT_SLURM_UP_TIMEOUT s, default 30) until sinfo shows the node
#      idle, and writes $MT_SLURM_DIR/env.sh (exports SLURM_CONF).
# On failure it prints the daemons' log tails, stops what it started and exits
# 1; it exits 77 (skip) when not root. Takes about 1–2 s once installed.
#
# Environment: MT_SLURM_DIR (default ${TMPDIR:-/tmp}/mt-slurm),
# MT_SLURM_UP_TIMEOUT (30), MT_SLURM_CTLD_PORT (6817), MT_SLURM_SLURMD_PORT
# (6818).
set -uo pipefail
# shellcheck disable=SC2034 # read by lib.sh's mt_log
MT_ME=slurm_up
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

up_timeout=${MT_SLURM_UP_TIMEOUT:-30}
ctld_port=${MT_SLURM_CTLD_PORT:-6817}
slurmd_port=${MT_SLURM_SLURMD_PORT:-6818}
PKGS=(slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge)

if [ "$(id -u)" -ne 0 ]; then
  mt_log "SKIP: needs root (SlurmUser=root, munged started as user munge)"
  exit 77
fi

# ---- 1. packages -----------------------------------------------------------
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  mt_log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for try in 1 2 3; do
    if apt-get update -q >/dev/null &&
      apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null; then
      break
    fi
    [ "$try" -lt 3 ] || { mt_log "apt-get failed 3 times: ${missing[*]}"; exit 1; }
    sleep 10
  done
fi
for b in munged slurmctld slurmd sinfo scontrol sbatch; do
  command -v "$b" >/dev/null || { mt_log "$b not found after installing ${PKGS[*]}"; exit 1; }
done

# ---- 2. leftovers ----------------------------------------------------------
MT_SLURM_DIR=$(mkdir -p "$MT_SLURM_DIR" && cd "$MT_SLURM_DIR" && pwd) || {
  mt_log "cannot create $MT_SLURM_DIR"
  exit 1
}
bash "$here/slurm_down.sh" --quiet || { mt_log "could not stop an earlier instance"; exit 1; }
for other in $(mt_instance_procs | awk '{print $2}' | sort -u); do
  mt_log "stopping the instance in $other, which was not shut down"
  MT_SLURM_DIR=$other bash "$here/slurm_down.sh" --quiet ||
    { mt_log "could not stop the instance in $other"; exit 1; }
done

# ---- 3. slurm.conf ---------------------------------------------------------
d=$MT_SLURM_DIR
rm -rf "$d/state" "$d/spool" "$d/log" "$d/run" "$d/munge" "$d/env.sh" "$d/slurm.conf"
mkdir -p "$d/state" "$d/spool" "$d/log" "$d/run" "$d/munge" || exit 1
# munged (user munge) must reach its socket dir through every parent, and
# refuses group- or world-writable dirs on the way (mktemp -d gives 0700)
chmod 0755 "$d"
chown munge:munge "$d/munge"
chmod 0755 "$d/munge"
runuser -u munge -- test -x "$d/munge" ||
  { mt_log "user munge cannot reach $d/munge: make every directory above it searchable (chmod o+x)"; exit 1; }

node=$(hostname -s)
# not plain nproc: it answers OMP_NUM_THREADS (1 in the ctest environment)
ncpu=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
mem_mib=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024))
# below MemTotal (else slurmd registers "low RealMemory" and the node drains)
real_mem=$((mem_mib > 2048 ? mem_mib - 1024 : mem_mib / 2))
conf=$d/slurm.conf

cat >"$conf" <<EOF
$MT_SLURM_MARK
# One node, $node, on 127.0.0.1; every path under $d.
ClusterName=mt
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# root runs everything: no slurm user, no systemd, no cgroups
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a private munged; cred_expire: a requeued job waits this long (default 120 s)
AuthInfo=socket=$d/munge/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# mpirun inside the allocation is the default launcher; srun --mpi=pmix also works
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# look at pending jobs every second, not every 30/60 s: a requeued job becomes
# eligible cred_expire seconds after the requeue, with no event to wake the
# scheduler, and would wait for the next periodic pass
SchedulerParameters=bf_interval=1,sched_interval=1
ReturnToService=2
# requeue: allowed, and the controller kills a signalled job's leftovers 5 s after TERM
JobRequeue=1
KillWait=5
# finished jobs stay visible to scontrol show job for an hour (no accounting here)
MinJobAge=3600
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
Waittime=0
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$ncpu RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

fail() {
  mt_log "$*"
  for f in "$d/munge/munged.log" "$d/log/slurmctld.log" "$d/log/slurmd.log"; do
    [ -s "$f" ] && { echo "---- tail of $f" >&2; tail -n 20 "$f" >&2; }
  done
  bash "$here/slurm_down.sh" --quiet
  exit 1
}

# ---- 4. daemons ------------------------------------------------------------
key=/etc/munge/munge.key
if ! [ -s "$key" ] || ! runuser -u munge -- test -r "$key"; then
  key=$d/munge/munge.key
  if command -v mungekey >/dev/null; then
    runuser -u munge -- mungekey --create --keyfile="$key" || fail "mungekey failed"
  else
    head -c 1024 /dev/urandom >"$key" && chown munge:munge "$key"
  fi
  chmod 0600 "$key"
fi
runuser -u munge -- munged --key-file="$key" --socket="$d/munge/munge.socket" \
  --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
  --seed-file="$d/munge/munged.seed" </dev/null ||
  fail "munged did not start"
export SLURM_CONF=$conf
# munged forks and writes its pid file: wait for the socket to answer
for ((i = 0; i < 50; i++)); do
  [ -S "$d/munge/munge.socket" ] && munge -n -S "$d/munge/munge.socket" >/dev/null 2>&1 && break
  sleep 0.1
done
munge -n -S "$d/munge/munge.socket" >/dev/null 2>&1 || fail "munged does not answer on $d/munge/munge.socket"

slurmctld -f "$conf" </dev/null >"$d/log/slurmctld.out" 2>&1 || fail "slurmctld did not start"
slurmd -f "$conf" -N "$node" </dev/null >"$d/log/slurmd.out" 2>&1 || fail "slurmd did not start"

# ---- 5. node idle ----------------------------------------------------------
start=$SECONDS
while :; do
  state=$(sinfo -h -N -n "$node" -o '%T' 2>/dev/null | head -n 1)
  [ "$state" = idle ] && break
  if ((SECONDS - start >= up_timeout)); then
    fail "node $node not idle after ${up_timeout} s (sinfo says '${state:-no answer}')"
  fi
  sleep 0.2
done

cat >"$d/env.sh" <<EOF
# written by tests/slurm/slurm_up.sh: source it to use the Slurm in $d
export SLURM_CONF=$conf
export MT_SLURM_DIR=$d
EOF
mt_log "node $node idle ($ncpu CPUs, ${real_mem} MiB), state in $d; . $d/env.sh"
