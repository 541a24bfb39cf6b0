#!/bin/bash
# bench/asyncdb/run.sh [--before] NAME
#
# One app of the async-db corpus (apps.toml): recreate ROOT/NAME-after from the pristine
# extract ROOT/pristine/NAME, commit it, run `vibefix apply --recipe async-db --unsafe .`
# from its root, then the app's own test suite in ROOT/venvs/NAME, and print the pytest
# summary line. `--before` runs the suite on a fresh copy of the pristine tree instead.
# What vibefix printed and the diff it wrote go to ROOT/results/NAME.*.
#
# ROOT defaults to /work/corpus-asyncdb, VIBEFIX to the vibefix on PATH; README.md says
# how to bring the apps back and make their venvs.
set -u
ROOT=${ROOT:-/work/corpus-asyncdb}
VIBEFIX=${VIBEFIX:-vibefix}
HERE=$(cd "$(dirname "$0")" && pwd)
mode=apply
if [ "${1:-}" = --before ]; then mode=before; shift; fi
name=${1:?usage: run.sh [--before] NAME}
[ -d "$ROOT/pristine/$name" ] || { echo "no $ROOT/pristine/$name (see README.md)"; exit 2; }

eval "$(python3 - "$HERE/apps.toml" "$name" <<'PY'
import shlex, sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
apps = tomllib.load(open(sys.argv[1], "rb"))["app"]
app = next((a for a in apps if a["name"] == sys.argv[2]), None)
if app is None:
    print(f"echo 'no [[app]] named {sys.argv[2]}'; exit 2")
    raise SystemExit
print("TEST_CMD=" + shlex.quote(app["test_command"]))
for key, value in app.get("env", {}).items():
    print(f"export {key}={shlex.quote(str(value))}")
PY
)"

mkdir -p "$ROOT/results"
if [ "$mode" = before ]; then work=$ROOT/.before/$name; else work=$ROOT/$name-after; fi
rm -rf "$work"; mkdir -p "$(dirname "$work")"
cp -a "$ROOT/pristine/$name" "$work"
(cd "$work" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm pristine)

if [ "$mode" = apply ]; then
  (cd "$work" && "$VIBEFIX" apply --recipe async-db --unsafe --no-cache . > "$ROOT/results/$name.apply.txt" 2>&1)
  (cd "$work" && git diff > "$ROOT/results/$name.applied.diff")
  if grep -q create_async_engine "$ROOT/results/$name.applied.diff"; then echo "migrated: yes"; else echo "migrated: no"; fi
  grep VF203 "$ROOT/results/$name.apply.txt" | grep -v -- "--unsafe" | sed 's/^/  /'
fi
out=$ROOT/results/$name.$mode.pytest.txt
(cd "$work" && PATH="$ROOT/venvs/$name/bin:$PATH" VIRTUAL_ENV="$ROOT/venvs/$name" timeout 900 bash -c "$TEST_CMD" > "$out" 2>&1)
echo "suite: $(grep -E '[0-9]+ (passed|failed)' "$out" | tail -1)"
