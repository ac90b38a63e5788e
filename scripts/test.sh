#!/usr/bin/env bash
# test.sh installs what the tests need and runs every check CI runs:
# go vet, gofmt, go test and a short run of every fuzzer.
#
# With CI=true each fuzzer runs FUZZTIME (default 30s); otherwise 10s, so
# that a developer's run stays short. Packages are installed only when
# missing, so a second run starts at once.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use. libwbxml2-utils: wbxml2xml, the
# independent decoder that eas/libwbxml_test.go checks our output against.
packages=(libwbxml2-utils)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "test.sh: not root, cannot install: ${missing[*]}" >&2
	else
		echo "test.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
fi

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	echo "gofmt -l: these files need gofmt:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go test"
go test -timeout 20m ./...

if [[ ${CI:-} == true ]]; then
	fuzztime=${FUZZTIME:-30s}
else
	fuzztime=${FUZZTIME:-10s}
fi
echo "== fuzz ($fuzztime each)"
bash scripts/fuzz.sh "$fuzztime"
