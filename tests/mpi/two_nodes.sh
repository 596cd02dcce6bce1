#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run from traps look unreachable to it
# two_nodes.sh: run an MPI job on a real two-node topology built on this one
# machine, so that node-aware code (the kvstore's `hier` backend,
# MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)) crosses a real node boundary.
#
# Usage (as root):
#   tests/mpi/two_nodes.sh [--np N] [--timeout S] [--expect-exit C] -- CMD [ARGS...]
#     --np N       ranks in all, N even (default 4): ranks 0..N/2-1 on nodeA,
#                  N/2..N-1 on nodeB (--map-by ppr:N/2:node, ranked by slot)
#     --timeout S  wall-clock bound on the whole job in seconds (default 120,
#                  or $MT_TWO_NODES_TIMEOUT); then it is stopped (TERM, KILL
#                  10 s later) and the script exits 124
#     --expect-exit C  for failure tests: exit 0 when the job's status is C,
#                  else 1 (a timeout, 124, is never what was expected)
#
# What it builds, per run, all of it private to the run and removed at exit:
#   - two network namespaces mt2n-<pid>-<rand>-A / -B, loopback up in both,
#     joined by a veth pair (veth0 in each) with 10.203.77.1/24 (nodeA) and
#     10.203.77.2/24 (nodeB); these addresses exist only inside the two
#     namespaces (override the /24 with MT_TWO_NODES_NET=10.203.N);
#   - /etc/netns/<ns>/hosts naming nodeA and nodeB (ip netns exec mounts it
#     over /etc/hosts for processes it starts);
#   - a hostname per node: every process started in a namespace runs in its
#     own UTS namespace (unshare --uts) whose hostname is nodeA or nodeB;
#   - an rsh agent script that Open MPI calls as `AGENT HOST CMD...` to start
#     orted: it runs CMD inside HOST's namespace with HOST's hostname;
#   - a hostfile (nodeA slots=N/2, nodeB slots=N/2), a session directory and
#     a shared-memory directory (vader's backing files) under temp dirs.
# mpirun itself runs inside namespace A with hostname nodeA, in a fresh PID
# namespace of which it is PID 1 (unshare --pid --fork --kill-child): when
# mpirun ends, or the unshare above it is killed, the kernel kills every
# process of the job on both "nodes", so nothing is orphaned.
#
# Environment given to the job: OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1,
# OMPI_MCA_btl=self,vader,tcp, OMPI_MCA_pml=ob1, btl_tcp_if_include and
# oob_tcp_if_include = the veth /24, plm_rsh_agent = the agent script,
# orte_tmpdir_base and btl_vader_backing_directory = per-run temp dirs.
# Distinct hostnames are required: with one hostname for both namespaces
# Open MPI crashes in the allreduce (see docs/platform.md).
#
# Exit status: the job's (mpirun's: 0, or the first failing rank's non-zero
# status); 124 when --timeout ran out (137 if KILL was needed); 128+n when
# this script got signal n (INT, TERM, HUP: the job is stopped first); 1
# instead of 0 when a process of the job outlived it or a namespace could not
# be removed (reported as LEAK); 77 = SKIP when this machine can't do it (not
# root, no `ip`/`unshare`, or the kernel refuses network, UTS or PID
# namespaces or veth pairs; MT_TWO_NODES_REQUIRE=1 turns a skip into exit
# 1); 2 = usage or setup error.
# Cleanup (namespaces, veth, temp files, leftover processes) runs on every
# exit path through `trap ... EXIT INT TERM HUP`. A run killed with SIGKILL
# (say by a ctest time-out) can't run its trap, but its job still dies with
# it (parent-death signals, see below) and a guard process in its own session
# removes the namespaces and temp dirs within a second; should the guard be
# gone too, the next run removes whatever a dead run left.
#
# Cost on the 2-core machines: namespaces + mpirun start-up + teardown take
# about 0.2 s (`-- true`); topology_check with 4 ranks 0.6-1.8 s in all,
# depending on load; a failing rank ends the job about 2 s after it fails
# (the --fail-rank 3 test: about 4 s in all). See README.md.
#
# Prerequisites: root, iproute2 (`ip`), util-linux (`unshare`), coreutils
# (`timeout`), Open MPI's `mpirun` on PATH.

set -u

me=two_nodes.sh
np=4
expect=""
timeout_s=${MT_TWO_NODES_TIMEOUT:-120}
net=${MT_TWO_NODES_NET:-10.203.77}

say() { echo "$me: $*" >&2; }
usage() {
  echo "usage: $me [--np N] [--timeout S] [--expect-exit C] -- CMD [ARGS...]" >&2
  exit 2
}
skip() {
  if [ "${MT_TWO_NODES_REQUIRE:-0}" = 1 ]; then
    say "FAIL (MT_TWO_NODES_REQUIRE=1): $*"
    exit 1
  fi
  say "SKIP: $*"
  exit 77
}
die() {
  say "ERROR: $*"
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --np) [ $# -ge 2 ] || usage; np=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --expect-exit) [ $# -ge 2 ] || usage; expect=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '3,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
[ $# -ge 1 ] || usage
case $np in ''|*[!0-9]*) die "--np needs a positive even integer, got '$np'" ;; esac
{ [ "$np" -ge 2 ] && [ $((np % 2)) -eq 0 ]; } || die "--np must be even and >= 2, got $np"
case $timeout_s in ''|*[!0-9]*|0) die "--timeout needs a positive integer, got '$timeout_s'" ;; esac
case $expect in *[!0-9]*) die "--expect-exit needs an exit status, got '$expect'" ;; esac
case $net in
  *[!0-9.]*|*..*|.*|*.) die "MT_TWO_NODES_NET must look like 10.203.77, got '$net'" ;;
esac
ppn=$((np / 2))

# ---- prerequisites -----------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth pairs)"
for tool in ip unshare timeout; do
  command -v "$tool" > /dev/null 2>&1 || skip "'$tool' not found (install iproute2 / util-linux)"
done
mpirun_bin=$(command -v mpirun) || die "mpirun not found on PATH (install openmpi-bin)"
unshare --uts --pid --fork --mount-proc true 2> /dev/null ||
  skip "the kernel refuses UTS/PID/mount namespaces here ($(unshare --uts --pid --fork \
--mount-proc true 2>&1 | head -n 1))"

# ---- state and cleanup -------------------------------------------------------
tag="mt2n-$$-$RANDOM"
nsA="$tag-A"
nsB="$tag-B"
work=""
shm=""
jobpid=""
made_ns=""
job_done=""
killed=""
guard_pid=""
leaked=""

# True when PID is gone or a zombie (PID 1 here does not reap orphans, so a
# dead process can linger as a zombie; it holds no namespace or file).
is_dead() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2> /dev/null) || return 0
  [ "$st" = Z ] || [ "$st" = X ]
}

# Kills whatever still runs in namespace $1 (only processes of this harness
# live there), waits up to 5 s for them to die, then deletes the namespace
# and its /etc/netns entry. Deleting namespace A also destroys the veth pair.
# Once the job has ended nothing should be left to kill: a survivor is
# reported and marks the run as leaky (exit status 1 instead of 0).
remove_ns() {
  local ns=$1 pids p live="" first=1
  if [ -e "/run/netns/$ns" ]; then
    for _ in $(seq 1 50); do
      pids=$(ip netns pids "$ns" 2> /dev/null)
      live=""
      for p in $pids; do is_dead "$p" || live="$live $p"; done
      [ -z "$live" ] && break
      if [ -n "$first" ] && [ -n "$job_done" ] && [ -z "$killed" ]; then
        say "LEAK: processes outlived the job in $ns:$(for p in $live; do
          printf ' %s(%s)' "$p" "$(cat "/proc/$p/comm" 2> /dev/null)"; done); killing them"
        leaked=1
      fi
      first=""
      # shellcheck disable=SC2086
      kill -KILL $live 2> /dev/null
      sleep 0.1
    done
    [ -z "$live" ] || { say "LEAK: processes$live in $ns did not die"; leaked=1; }
    # (a concurrent run's sweep or a guard may have deleted it meanwhile)
    if ! ip netns del "$ns" 2> /dev/null && [ -e "/run/netns/$ns" ]; then
      say "LEAK: could not delete namespace $ns"
      leaked=1
    fi
  fi
  rm -rf "/etc/netns/$ns"
}

# Stops the job (TERM through timeout to mpirun and its process group, then
# KILL of the group after 5 s; killing the unshare above mpirun's PID
# namespace makes the kernel kill every process in it).
stop_job() {
  [ -n "$jobpid" ] || return 0
  if ! is_dead "$jobpid"; then
    kill -TERM "$jobpid" 2> /dev/null
    for _ in $(seq 1 50); do
      is_dead "$jobpid" && break
      sleep 0.1
    done
    if ! is_dead "$jobpid"; then
      killed=1 # the kernel may still be tearing the job down: not a leak
      kill -KILL -- "-$jobpid" 2> /dev/null
      kill -KILL "$jobpid" 2> /dev/null
    fi
  fi
  wait "$jobpid" 2> /dev/null
  jobpid=""
}

cleanup() {
  local st=$?
  trap - EXIT INT TERM HUP
  stop_job
  job_done=1
  if [ -n "$made_ns" ]; then
    remove_ns "$nsB"
    remove_ns "$nsA"
    rmdir /etc/netns 2> /dev/null # only when no one else keeps entries there
    if ip netns list 2> /dev/null | grep -q "^$tag-"; then
      say "LEAK: namespaces of this run remain: $(ip netns list | grep "^$tag-" | tr '\n' ' ')"
      leaked=1
    fi
  fi
  [ -n "$work" ] && rm -rf "$work"
  [ -n "$shm" ] && rm -rf "$shm"
  # Let the guard go (it finds nothing left) and wait for it, so that no
  # process of this run outlives the script.
  if [ -n "$guard_pid" ]; then
    exec 9>&-
    for _ in $(seq 1 100); do
      is_dead "$guard_pid" && break
      sleep 0.01
    done
  fi
  if [ -n "$leaked" ] && [ "$st" = 0 ]; then exit 1; fi
}

on_signal() {
  say "got SIG$1: stopping the job and cleaning up"
  exit $((128 + $2))
}
trap cleanup EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# Namespaces and temp dirs left by a run that was killed with SIGKILL (its
# creator pid, part of every name, is gone): remove them, so they don't pile
# up. Only names of this harness's pattern are touched.
for f in /run/netns/mt2n-*-[AB] /tmp/mt2n-*-*.* /dev/shm/mt2n-*-*.*; do
  [ -e "$f" ] || continue
  old=${f##*/}
  oldpid=${old#mt2n-}
  oldpid=${oldpid%%-*}
  case $oldpid in ''|*[!0-9]*) continue ;; esac
  [ -e "/proc/$oldpid" ] && continue
  say "removing $f left by dead run $oldpid"
  case $f in
    /run/netns/*) remove_ns "$old" ;;
    *) rm -rf "$f" ;;
  esac
  leaked="" # what a dead run left is not this run's leak
done

# ---- build the two nodes -----------------------------------------------------
work=$(mktemp -d "/tmp/$tag.XXXXXX") || die "mktemp failed"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm=$(mktemp -d "/dev/shm/$tag.XXXXXX") || die "mktemp in /dev/shm failed"
else
  shm="$work/shm"
  mkdir "$shm"
fi

# A guard outlives a SIGKILL of this script (ctest kills a timed-out test
# and all its descendants with SIGKILL, so the trap can't run) and then
# removes what the trap would have: started from a subshell that exits at
# once, in a session of its own, it is no descendant of this script. It
# blocks reading a fifo whose only writer is this script (fd 9, closed for
# the job; opened read-write first so that neither side blocks in open): the
# read ends when this script exits, however it exits. On the trap's path the
# trap removes everything, closes fd 9 and waits for the guard, which finds
# nothing left to do.
mkfifo "$work/lifeline" || die "mkfifo failed"
exec 9<> "$work/lifeline"
(setsid bash -c "$(declare -f say is_dead remove_ns)
me='$me (guard)' job_done='' killed='' leaked=''
while read -r _; do :; done
remove_ns $(printf %q "$nsB")
remove_ns $(printf %q "$nsA")
rmdir /etc/netns 2> /dev/null
rm -rf $(printf %q "$work") $(printf %q "$shm")" < "$work/lifeline" > /dev/null 2>&1 9>&- &
  echo $! > "$work/guard.pid")
guard_pid=$(cat "$work/guard.pid")

made_ns=1
err=$(ip netns add "$nsA" 2>&1) || skip "the kernel refuses network namespaces: $err"
err=$(ip netns add "$nsB" 2>&1) || skip "the kernel refuses network namespaces: $err"
err=$(ip -n "$nsA" link add veth0 type veth peer name veth0 netns "$nsB" 2>&1) ||
  skip "the kernel refuses a veth pair: $err"
if ! { ip -n "$nsA" link set lo up && ip -n "$nsB" link set lo up &&
  ip -n "$nsA" addr add "$net.1/24" dev veth0 && ip -n "$nsB" addr add "$net.2/24" dev veth0 &&
  ip -n "$nsA" link set veth0 up && ip -n "$nsB" link set veth0 up; }; then
  die "could not set up the veth pair in $nsA / $nsB"
fi

for ns in "$nsA" "$nsB"; do
  # (twice: a concurrent run may rmdir an empty /etc/netns in between)
  mkdir -p "/etc/netns/$ns" || mkdir -p "/etc/netns/$ns" || die "cannot create /etc/netns/$ns"
  printf '127.0.0.1 localhost\n%s.1 nodeA\n%s.2 nodeB\n' "$net" "$net" > "/etc/netns/$ns/hosts"
done

printf 'nodeA slots=%d\nnodeB slots=%d\n' "$ppn" "$ppn" > "$work/hostfile"

# Open MPI's plm/rsh runs `AGENT HOST CMD...` the way it would run ssh; as
# sshd does, the words of CMD are joined and run by `sh -c`. The hostname is
# set in a fresh UTS namespace, then the shell execs the daemon.
cat > "$work/rsh_agent" << EOF
#!/bin/sh
# rsh agent of $me run $tag: AGENT [ssh options] HOST CMD...
while [ \$# -gt 0 ]; do case \$1 in -*) shift ;; *) break ;; esac; done
host=\$1
shift
case \$host in
  nodeA|$net.1) ns=$nsA; name=nodeA ;;
  nodeB|$net.2) ns=$nsB; name=nodeB ;;
  *) echo "rsh_agent: unknown host '\$host'" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c \\
  'echo "\$0" > /proc/sys/kernel/hostname && exec sh -c "\$*"' "\$name" "\$@"
EOF
chmod +x "$work/rsh_agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1
export OMPI_MCA_btl_tcp_if_include="$net.0/24" OMPI_MCA_oob_tcp_if_include="$net.0/24"
export OMPI_MCA_plm_rsh_agent="$work/rsh_agent" OMPI_MCA_plm_rsh_no_tree_spawn=1
export OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_backing_directory="$shm"

say "nodeA=$net.1 ($nsA), nodeB=$net.2 ($nsB); $np ranks, $ppn per node; timeout ${timeout_s}s"

# ---- run the job -------------------------------------------------------------
# timeout (its own process group) -> ip netns exec A -> unshare (UTS, PID,
# mount; parent waits) -> sh sets hostname nodeA -> exec mpirun as PID 1.
# With setpriv's parent-death signal on timeout and on unshare, even a
# SIGKILL of this script (a ctest time-out) takes the job down: timeout dies,
# then unshare, then mpirun (--kill-child), and with it the PID namespace.
pdeath=()
if setpriv --pdeathsig KILL true 2> /dev/null; then pdeath=(setpriv --pdeathsig KILL); fi
start=$(date +%s.%N)
"${pdeath[@]}" timeout --kill-after=10 "$timeout_s" \
  "${pdeath[@]}" ip netns exec "$nsA" unshare --uts --pid --fork --kill-child --mount-proc \
  sh -c 'echo nodeA > /proc/sys/kernel/hostname && exec "$@"' sh \
  "$mpirun_bin" --hostfile "$work/hostfile" -n "$np" --map-by "ppr:$ppn:node" --bind-to none \
  "$@" < /dev/null 9>&- &
jobpid=$!
wait "$jobpid"
rc=$?
jobpid=""
job_done=1
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [ "$rc" = 124 ]; then
  say "TIMEOUT: the job ran past ${timeout_s}s and was stopped"
elif [ "$rc" != 0 ]; then
  say "the job failed with exit status $rc after ${secs}s"
else
  say "the job succeeded in ${secs}s"
fi
if [ -n "$expect" ]; then
  if [ "$rc" = "$expect" ]; then
    say "exit status $rc as expected"
    rc=0
  else
    say "FAIL: expected exit status $expect, got $rc"
    rc=1
  fi
fi
exit "$rc"
