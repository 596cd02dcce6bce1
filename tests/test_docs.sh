#!/bin/sh
# test_docs.sh MODTRAIN SOURCE_DIR — the docs cannot drift from the code:
#  1. environment: `modtrain --help` prints base/env.h's table; the README's
#     and docs/config.md's variable tables list exactly those variables, and
#     docs/config.md's default column matches the table word for word; no
#     MODTRAIN_* name in the docs is unknown to the table;
#  2. exit codes: `modtrain --help` prints base/exit_codes.h's table; the
#     exit-code tables of docs/config.md and docs/design.md have exactly
#     those codes, and the "Exit statuses" sentences of the README and
#     docs/failures.md name each of them;
#  3. options: every long option in `--help` is documented in docs/config.md;
#  4. nothing in the repository points outside it (DESIGN.md, ../shared).
# (The config keys and their defaults are checked by test_config against
# docs/config.md's key tables.)
M=$1
S=$2
[ -x "$M" ] && [ -f "$S/README.md" ] || { echo "usage: test_docs.sh MODTRAIN SOURCE_DIR"; exit 2; }
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$M" --help >"$tmp/help" 2>&1 || { echo "FAIL modtrain --help exited non-zero"; exit 1; }

# a section of --help: the lines after "NAME:" up to the next blank line
section() { awk -v s="$1:" '$0 == s {on = 1; next} on && /^$/ {exit} on {print}' "$tmp/help"; }
# a markdown table after heading HEADING in FILE: its rows, header excluded
table_after() {
  awk -v h="$2" 'index($0, h) == 1 {on = 1; next} on && /^\|/ {t = 1; print; next} on && t && !/^\|/ {exit}' "$1" |
    tail -n +3
}

# ---- 1. environment
section environment | awk '/^  [A-Z]/ {print $1}' | sort -u >"$tmp/env.help"
[ -s "$tmp/env.help" ] && ok "--help lists $(wc -l <"$tmp/env.help") environment variables" ||
  bad "--help has no environment section"
for doc in README.md:"## Environment variables" docs/config.md:"## Environment"; do
  f=${doc%%:*}
  h=${doc#*:}
  table_after "$S/$f" "$h" >"$tmp/rows"
  grep -o '`[A-Z][A-Z0-9_]*`' "$tmp/rows" | tr -d '`' | sort -u >"$tmp/env.doc"
  if cmp -s "$tmp/env.help" "$tmp/env.doc"; then ok "$f's variable table lists exactly the knobs"
  else bad "$f's variable table differs from --help: $(diff "$tmp/env.help" "$tmp/env.doc" | grep '^[<>]' | tr '\n' ' ')"; fi
done
# defaults: docs/config.md's second column against --help's "(default: X)"
table_after "$S/docs/config.md" "## Environment" >"$tmp/rows"
section environment | awk '/^  [A-Z]/ {name = $1} /\(default: / {d = $0; sub(/.*\(default: /, "", d); sub(/\)$/, "", d); print name "\t" d}' >"$tmp/defaults"
while IFS="$(printf '\t')" read -r name def; do
  row=$(grep "^| \`$name\`" "$tmp/rows" | head -n 1)
  [ -n "$row" ] || row=$(grep "\`$name\`" "$tmp/rows" | head -n 1)
  doc=$(printf '%s\n' "$row" | awk -F'|' '{print $3}' | tr -d '`' | sed 's/^ *//; s/ *$//')
  if [ "$doc" = "$def" ]; then ok "default of $name: $def"
  else bad "default of $name: --help says '$def', docs/config.md says '$doc'"; fi
done <"$tmp/defaults"
# no unknown MODTRAIN_* in the docs
cat "$S/README.md" "$S"/docs/*.md | grep -o 'MODTRAIN_[A-Z_]*[A-Z]' | sort -u >"$tmp/env.mentioned"
unknown=$(comm -23 "$tmp/env.mentioned" "$tmp/env.help" | tr '\n' ' ')
[ -z "$unknown" ] && ok "every MODTRAIN_* the docs name is a knob" || bad "docs name unknown variables: $unknown"

# ---- 2. exit codes
section "exit codes" | awk '/^  [0-9]/ {print $1}' | sort -u >"$tmp/exit.help"
[ "$(wc -l <"$tmp/exit.help")" -ge 3 ] && ok "--help lists exit codes $(tr '\n' ' ' <"$tmp/exit.help")" ||
  bad "--help has no exit codes section"
for doc in docs/config.md:"## Exit codes" docs/design.md:"Exit statuses:"; do
  f=${doc%%:*}
  h=${doc#*:}
  table_after "$S/$f" "$h" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -u >"$tmp/exit.doc"
  if cmp -s "$tmp/exit.help" "$tmp/exit.doc"; then ok "$f's exit-code table has exactly the codes"
  else bad "$f's exit codes differ from --help: $(diff "$tmp/exit.help" "$tmp/exit.doc" | grep '^[<>]' | tr '\n' ' ')"; fi
done
for f in README.md docs/failures.md; do
  para=$(awk '/^Exit statuses/ {on = 1} on && /^$/ {exit} on {print}' "$S/$f")
  missing=""
  for c in $(cat "$tmp/exit.help"); do
    printf '%s\n' "$para" | grep -Eq "(^|[ ;:])$c [a-z]" || missing="$missing $c"
  done
  [ -n "$para" ] && [ -z "$missing" ] && ok "$f's exit statuses name every code" ||
    bad "$f's 'Exit statuses' sentence misses:$missing"
done

# ---- 3. options
for o in $(grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u); do
  grep -q -- "$o" "$S/docs/config.md" || bad "option $o of --help is not in docs/config.md"
done
ok "options of --help checked against docs/config.md"

# ---- 4. nothing outside the repository
outside=$(cd "$S" && grep -rIl 'DESIGN\.md\|\.\./shared\|shared/PLATFORM\|shared/gpu' \
  --exclude-dir=.git --exclude-dir='build*' --exclude=test_docs.sh . 2>/dev/null | tr '\n' ' ')
[ -z "$outside" ] && ok "no file points outside the repository" || bad "files pointing outside: $outside"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
