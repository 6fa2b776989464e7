#!/usr/bin/env bash
# Shows that the regression gate works: `asv continuous` exits non-zero when a commit makes a
# benchmark slower.
#
#   tools/asv_regression_check.sh [factor]      (default factor 1.5)
#
# In a temporary clone it commits the working tree as it is (the base), then a commit that
# slows every timed call down by 5 ms on purpose (a sleep in evbench.harness.bench.measure.Prepared.call), and
# runs `asv continuous --factor <factor> base slowed` on one small case (EVBENCH_GRID=tiny,
# csr × native × vecmat). It succeeds (exit 0) when asv reported the slowdown with a non-zero
# exit, and fails otherwise. Both commits are built in virtualenvs from PyPI: minutes the
# first time; the environment is kept in ${EVBENCH_ASV_ENV:-~/.cache/evbench/asv-env} for
# later checks. ASV=/path/to/asv picks the asv executable.
set -euo pipefail
factor=${1:-1.5}
asv=${ASV:-asv}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/evbench-asv-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
envdir=${EVBENCH_ASV_ENV:-$HOME/.cache/evbench/asv-env}
mkdir -p "$envdir"

git clone -q "$repo" "$work/repo"
(cd "$repo" && git ls-files -co --exclude-standard -z) | (cd "$repo" && xargs -0 -r cp --parents -t "$work/repo" 2>/dev/null || true)
cd "$work/repo"
git add -A
git -c user.name=evbench -c user.email=evbench@localhost commit -qm "base: the working tree" --allow-empty
base=$(git rev-parse HEAD)

python3 - <<'PY'
import re
from pathlib import Path
p = Path("evbench/harness/bench/measure.py")
s = p.read_text()
old = "        return self.impl.run(events)\n"
assert s.count(old) == 1, "evbench.harness.bench.measure.Prepared.call changed: update tools/asv_regression_check.sh"
p.write_text(s.replace(old, "        time.sleep(0.005)  # slower on purpose\n" + old))
PY
git -c user.name=evbench -c user.email=evbench@localhost commit -qam "slower on purpose: 5 ms per call"
slowed=$(git rev-parse HEAD)

# keep the virtualenv between checks, outside the temporary clone
python3 - "$envdir" <<'PY'
import re, sys
from pathlib import Path
p = Path("asv.conf.json")
p.write_text(re.sub(r'"env_dir": "[^"]*"', f'"env_dir": "{sys.argv[1]}"', p.read_text()))
PY

"$asv" machine --yes >/dev/null
set +e
EVBENCH_GRID=tiny EVBENCH_FAMILY=csr EVBENCH_BACKEND=native EVBENCH_PRODUCT=vecmat \
  "$asv" continuous --factor "$factor" --bench 'products\..*time_product' --show-stderr "$base" "$slowed"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "OK: asv continuous exited with status $status on the commit made slower on purpose"
  exit 0
fi
echo "FAIL: asv continuous exited with status 0 although the commit is slower" >&2
exit 1
