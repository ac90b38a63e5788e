#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target of the module, one at a time, for the
# given time each: "30" or "30s" (default 30s), or anything -fuzztime takes.
# It prints go's progress lines (with exec counts), a summary at the end, and
# fails if any fuzzer fails. A failing input is kept in the package's
# testdata/fuzz/<Name>/, where go test replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

t=${1:-${FUZZTIME:-30s}}
[[ $t =~ ^[0-9]+$ ]] && t=${t}s

log=$(mktemp)
trap 'rm -f "$log"' EXIT

summary=()
failed=0
# Each line of the list: <package dir> <fuzz function name>.
while read -r dir name; do
	echo "== $name in ./$dir ($t)"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" "./$dir" </dev/null 2>&1 | tee "$log"; then
		result=ok
	else
		result=FAIL
		failed=1
	fi
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 || true)
	summary+=("$result $dir $name ${execs:-execs: ?}")
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' --exclude-dir=testdata --exclude-dir=.git . |
	sed -E 's|^\./||; s|/[^/]*_test\.go:func | |; s|^[^/ ]*_test\.go:func |. |' | sort -u)

echo "== fuzz summary"
if ((${#summary[@]} == 0)); then
	echo "no fuzz targets found"
else
	printf '%s\n' "${summary[@]}"
fi
exit "$failed"
