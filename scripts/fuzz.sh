#!/usr/bin/env bash
# fuzz.sh runs every Fuzz* target of the module, one at a time, for the
# given time each: "30" or "30s" (default 30s), or anything -fuzztime takes.
# It prints go's progress lines (with exec counts), a summary at the end, and
# fails if any fuzzer fails. A failing input is kept in the package's
# testdata/fuzz/<Name>/, where go test replays it from then on.
#
# One failure is not a find: Go 1.26's fuzz coordinator can report the end of
# -fuzztime itself as "context deadline exceeded" (go.dev/issue/75804, fixed
# in Go 1.27) when the machine is busy. Such a run is counted as passed only
# when it wrote no failing input, printed nothing but that error after the
# progress lines, and a replay of the target's whole corpus then passes.
set -euo pipefail
cd "$(dirname "$0")/.."

t=${1:-${FUZZTIME:-30s}}
[[ $t =~ ^[0-9]+$ ]] && t=${t}s

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# corpus lists the failing inputs kept for a target, one file name a line.
corpus() { ls -1 "$1/testdata/fuzz/$2" 2>/dev/null || true; }

# deadlineRace tells whether the log in $log is that coordinator race: the
# only failure printed is the bare deadline, and no input was written.
deadlineRace() {
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -qE 'Failing input written|^panic:|--- FAIL: .*\(.*\)$' <(grep -v "^--- FAIL: $1 (" "$log")
}

summary=()
failed=0
# Each line of the list: <package dir> <fuzz function name>.
while read -r dir name; do
	echo "== $name in ./$dir ($t)"
	before=$(corpus "$dir" "$name")
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" "./$dir" </dev/null 2>&1 | tee "$log"; then
		result=ok
	elif [[ $(corpus "$dir" "$name") == "$before" ]] && deadlineRace "$name" &&
		echo "== $name: the coordinator's deadline race (go.dev/issue/75804); replaying its corpus" &&
		go test -count=1 -run "^${name}\$" "./$dir" </dev/null; then
		result="ok (deadline race, corpus replay passed)"
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
