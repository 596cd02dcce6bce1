#!/usr/bin/env bash
# jobs/run-main.sh — the project's main command (README): installs what is
# missing, builds, and runs the main job: examples/demo_mlp.c, which trains
# the tutorial MLP (MXNet's Module tutorial) through the executor on
# synthetic data and prints the falling loss.
# Environment: BUILD_DIR (default build), passed on to jobs/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bash jobs/setup.sh
bash jobs/build.sh

BUILD_DIR=${BUILD_DIR:-build}
demo="$BUILD_DIR/example_demo_mlp"
if [ ! -x "$demo" ]; then
  echo "run-main: $demo was not built (examples/demo_mlp.c is missing from this tree)" >&2
  exit 1
fi
echo "run-main: $demo"
exec "$demo" "$@"
