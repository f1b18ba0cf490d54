#!/usr/bin/env bash
# The README's two commands must work as written on a fresh Debian machine or
# container, which runs as root and has no sudo, and must tell anyone else
# what to do (issue 12, item 11). Checks:
#   1. each command in "Set up on a fresh machine" is a script of this repo,
#      runnable as is (no sudo or other wrapper in front of it);
#   2. .ci/run runs exactly the README's test command;
#   3. run by a non-root user, each stops at once with one line naming the
#      fix (sudo / su -c) and a non-zero status, before doing anything.
# Running them as root is what CI does (.ci/run), so that part is not redone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# The fenced command lines of the README's setup section.
mapfile -t cmds < <(awk '/^## Set up on a fresh machine/ {on=1; next} on && /^## / {exit}
  on && /^```/ {block = !block; next} on && block && NF {print}' README.md)
[ "${#cmds[@]}" -eq 2 ] || bad "expected 2 commands in the README's setup section, found ${#cmds[@]}: ${cmds[*]}"

for cmd in "${cmds[@]}"; do
  first=${cmd%% *}
  if [ ! -f "$first" ] || [ ! -x "$first" ]; then
    bad "README command '$cmd' does not start with an executable script of the repo ('$first' needs to exist: a fresh root machine has no sudo)"
  fi
done

test_cmd=${cmds[1]:-}
ci_cmd=$(grep -E '^exec ' .ci/run | sed 's/^exec //')
[ "$ci_cmd" = "$test_cmd" ] || bad ".ci/run runs '$ci_cmd', the README says '$test_cmd'"

# As a non-root user: nobody, or the caller when the test itself is not root.
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$@"
  else
    "$@"
  fi
}
for cmd in "${cmds[@]}"; do
  first=${cmd%% *}
  [ -x "$first" ] || continue
  set +e
  err=$(as_user env -u SUDO_USER "$first" 2>&1 >/dev/null)
  st=$?
  set -e
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ "$st" -eq 0 ]; then
    bad "'$cmd' as a non-root user exited 0"
  elif [ "$lines" -ne 1 ] || ! grep -q "run it as root, e.g. 'sudo $first' or 'su -c $first'" <<<"$err"; then
    bad "'$cmd' as a non-root user should say in one line how to run it as root; said: $err"
  fi
done
[ "$fail" -eq 0 ] && echo "README commands: ${cmds[*]} | .ci/run: $ci_cmd | non-root: told what to do"
exit $fail
