#!/bin/sh
# test_layers.sh BUILD_DIR SOURCE_DIR — the layers' arrows point one way
# (docs/design.md §1): base <- kernels <- io, kvstore <- src <- cmd.
#  1. through each layer's include view (BUILD_DIR/layers/mt_LAYER, what its
#     sources compile with), a header of a layer above is not found, while
#     one of its own and of a layer below is;
#  2. no source climbs out of its layer with a relative include ("../x.h"
#     naming another top-level folder), which the include views cannot see;
#  3. the public library holds no code of the command (no main, no config
#     reader) and no layer reads MODTRAIN_* variables with getenv.
B=$1
S=$2
[ -d "$B/layers" ] && [ -d "$S/base" ] || { echo "usage: test_layers.sh BUILD_DIR SOURCE_DIR"; exit 2; }
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# probe LAYER HEADER: 0 when HEADER is found through LAYER's view
probe() {
  printf '#include "%s"\n' "$2" >"$tmp/p.c"
  cc -E -I"$B/layers/mt_$1" -I"$S/include" "$tmp/p.c" -o /dev/null 2>"$tmp/err"
  r=$?
  [ $r -ne 0 ] && ! grep -q "No such file" "$tmp/err" && { cat "$tmp/err"; return 2; }
  return $r
}
# expect LAYER HEADER yes|no
expect() {
  probe "$1" "$2"
  r=$?
  if [ "$3" = yes ] && [ $r -eq 0 ]; then ok "$1 sees $2"
  elif [ "$3" = no ] && [ $r -eq 1 ]; then ok "$1 cannot include $2"
  else bad "$1 / $2: expected '$3', probe returned $r"; fi
}

expect base base/error.h yes
expect base kernels/kernels.h no
expect base io/h5dataset.h no
expect base src/ndarray.h no
expect kernels base/device.h yes
expect kernels kernels/cpu/blas.h yes
expect kernels kvstore/kvstore.h no
expect kernels io/h5dataset.h no
expect kernels src/op.h no
expect io base/error.h yes
expect io io/params_file.h yes
expect io kernels/kernels.h no
expect io kvstore/kvstore.h no
expect io src/ndarray.h no
expect kvstore kernels/kernels.h yes
expect kvstore kvstore/kvstore.h yes
expect kvstore io/h5dataset.h no
expect kvstore src/ndarray.h no
expect core src/ndarray.h yes
expect core kvstore/kvstore.h yes
expect core io/h5dataset.h yes
if [ -d "$S/cmd" ]; then
  expect core cmd/config.h no
fi

# relative includes that leave their layer
climb=$(cd "$S" && grep -rnE '#include +"(\.\./)+(base|kernels|io|kvstore|src|cmd|tests|bench)/' \
  base kernels io kvstore src cmd 2>/dev/null)
if [ -z "$climb" ]; then ok "no relative include leaves its layer"; else bad "relative includes: $climb"; fi

# the environment is read through base/env.h only
envs=$(cd "$S" && grep -rn 'getenv("MODTRAIN_' base kernels io kvstore src cmd 2>/dev/null)
if [ -z "$envs" ]; then ok "no getenv(\"MODTRAIN_...\") outside base/env.c"; else bad "getenv: $envs"; fi

# the public library has no command code in it
lib=$(ls "$B"/libmodtrain.so* 2>/dev/null | head -n 1)
if [ -n "$lib" ]; then
  syms=$(nm -D --defined-only "$lib" 2>/dev/null | awk '{print $3}')
  if echo "$syms" | grep -qE '^(main|mt_config_|mt_cmd_|mt_progress_)'; then
    bad "libmodtrain exports command symbols: $(echo "$syms" | grep -E '^(main|mt_config_|mt_cmd_|mt_progress_)' | tr '\n' ' ')"
  else ok "libmodtrain exports no command symbols"; fi
  if nm "$lib" 2>/dev/null | grep -qE ' [tT] (usage|cmd_train|cmd_viz|cmd_eval|mt_config_load)$'; then
    bad "libmodtrain contains command code"
  else ok "libmodtrain contains no command code"; fi
else
  bad "no libmodtrain.so in $B"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
