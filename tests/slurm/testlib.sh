# shellcheck shell=bash disable=SC2154 # here, t0: set by the test that sources this
# tests/slurm/testlib.sh — the frame the Slurm tests share (sourced by
# test_slurm_*.sh, not run). Bash only.
#
# The test sets MT_ME, here (this directory) and t0 first, and show_log_lines
# (default 60) if it wants another length. Sourcing this file:
#   - makes the test's temp dir $work, with the Slurm state in
#     MT_SLURM_DIR=$work/slurm, and sources lib.sh;
#   - sets the traps: on exit slurm_down.sh stops that Slurm and $work is
#     removed (kept when MT_SLURM_KEEP=1 or the stop failed);
#   - defines fail, step, show_log and start_slurm (below).

work=$(mktemp -d "${TMPDIR:-/tmp}/mt-slurm-test.XXXXXX") || exit 1
chmod 0755 "$work" # munged runs as user munge, its socket lives below
export MT_SLURM_DIR=$work/slurm
. "$here/lib.sh"

cleanup() {
  local keep=${MT_SLURM_KEEP:-0}
  # a failed stop keeps the state dir: the next slurm_up.sh finds the
  # leftovers through its slurm.conf and stops them
  bash "$here/slurm_down.sh" --quiet || { echo "$MT_ME: slurm_down.sh failed" >&2; keep=1; }
  if [ "$keep" = 1 ]; then
    echo "$MT_ME: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "$MT_ME: FAIL: $*" >&2
  exit 1
}
step() { printf '%s: [%3d s] %s\n' "$MT_ME" $((SECONDS - t0)) "$*"; }
# show_log FILE: the job's output, indented, for the test log
show_log() { [ -r "$1" ] && sed 's/^/    | /' "$1" | head -n "${show_log_lines:-60}"; }

# start_slurm: starts the test's Slurm with slurm_up.sh, sources its env.sh
# and changes to $work. Ends the test with exit 77 (skip) when slurm_up.sh
# skips (not root), fails it when slurm_up.sh fails.
start_slurm() {
  local rc
  step "starting Slurm (state in $MT_SLURM_DIR)"
  bash "$here/slurm_up.sh"
  rc=$?
  [ $rc -eq 77 ] && { echo "$MT_ME: SKIP: slurm_up.sh skipped (not root)"; trap - EXIT; rm -rf "$work"; exit 77; }
  [ $rc -eq 0 ] || fail "slurm_up.sh failed (status $rc)"
  . "$MT_SLURM_DIR/env.sh"
  cd "$work" || exit 1
  step "Slurm up"
}
