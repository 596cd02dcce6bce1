#!/usr/bin/env bash
# tests/slurm/slurm_down.sh — stops the Slurm that tests/slurm/slurm_up.sh
# started in $MT_SLURM_DIR (default ${TMPDIR:-/tmp}/mt-slurm): cancels its
# jobs, stops slurmd, slurmctld and munged (TERM, KILL after 10 s), then
# checks that no process of that instance is left (slurmstepd and the jobs'
# processes included). The state directory stays, with its logs, for a look
# afterwards; slurm_up.sh clears it on its next start.
#
#   MT_SLURM_DIR=/tmp/my-slurm bash tests/slurm/slurm_down.sh [--quiet]
#
# Idempotent: with nothing running it does nothing and exits 0. Exits 1 when
# a process of the instance survives KILL. --quiet: no "stopped" line.
# Stopped daemons may stay zombies (PID 1 does not reap orphans here); they
# hold no ports or files, and the liveness checks read /proc/PID/stat.
set -uo pipefail
# shellcheck disable=SC2034 # read by lib.sh's mt_log
MT_ME=slurm_down
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

quiet=0
[ "${1:-}" = --quiet ] && quiet=1
[ -d "$MT_SLURM_DIR" ] || exit 0
d=$(cd "$MT_SLURM_DIR" && pwd)
conf=$d/slurm.conf
export SLURM_CONF=$conf

ctld=$(mt_pidfile_pid "$d/run/slurmctld.pid")
slurmd=$(mt_pidfile_pid "$d/run/slurmd.pid")
munged=$(mt_pidfile_pid "$d/munge/munged.pid")
# own_procs [KIND]: PIDs of this instance's live processes (of KIND)
own_procs() { mt_instance_procs "$d" | awk -v k="${1:-}" 'k == "" || $3 == k {print $1}'; }
any=0
for p in "$ctld" "$slurmd" "$munged"; do [ -n "$p" ] && mt_alive "$p" && any=1; done
[ -n "$(own_procs)" ] && any=1
[ $any -eq 1 ] || exit 0

# Jobs first, while the controller and slurmd can still end them properly
# (slurmstepd kills each job's processes, which proctrack/linuxproc tracks).
if [ -n "$ctld" ] && mt_alive "$ctld" && [ -r "$conf" ]; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    # shellcheck disable=SC2086 # word splitting: one job id per word
    timeout 10 scancel $jobs 2>/dev/null
    # KillWait=5: the job's processes get TERM, then KILL 5 s later
    for ((i = 0; i < 100; i++)); do
      [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && [ -z "$(own_procs job)" ] && break
      sleep 0.1
    done
  fi
fi

rc=0
[ -n "$slurmd" ] && { mt_stop "$slurmd" slurmd 10 || rc=1; }
[ -n "$ctld" ] && { mt_stop "$ctld" slurmctld 10 || rc=1; }
# What is left: slurmstepd of jobs that did not end and their processes,
# daemons whose pid file is gone; munged last (the others authenticate with it).
for kind in daemon job; do
  for pid in $(own_procs $kind); do
    comm=$(mt_comm "$pid")
    [ "$comm" = munged ] && continue
    # slurmstepd ignores TERM without its slurmd: KILL after 1 s
    w=5
    [ "$comm" = slurmstepd ] && w=1
    mt_stop "$pid" "$comm" $w || rc=1
  done
done
[ -n "$munged" ] && { mt_stop "$munged" munged 10 || rc=1; }
for pid in $(own_procs); do mt_stop "$pid" "$(mt_comm "$pid")" 5 || rc=1; done

left=$(own_procs)
if [ -n "$left" ]; then
  mt_log "still running after stop: $(for p in $left; do printf '%s(%s) ' "$p" "$(mt_comm "$p")"; done)"
  rc=1
fi
[ $rc -eq 0 ] && [ $quiet -eq 0 ] && mt_log "stopped the Slurm in $d"
exit $rc
