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
# The rest is what internal/testserver's scripts run: Dovecot, Radicale,
# Xandikos and the runtime libraries of Cyrus, whose .debs start-cyrus.sh
# unpacks itself. Never cyrus-imapd through apt: it removes dovecot-imapd
# (both provide imap-server). chromium: the browser that the console test
# (gateway/console_browser_test.go) drives. systemd: systemd-analyze, which
# checks deploy/systemd/easgate.service (deploy/deploy_test.go). haproxy:
# the balancer in front of the nodes of the multi-node tests. postgresql-15:
# the shared state of several nodes (statecache's PostgreSQL backend).
packages=(libwbxml2-utils chromium systemd haproxy postgresql-15
	curl python3 tzdata dovecot-core dovecot-imapd dovecot-submissiond dovecot-lmtpd
	radicale xandikos sasl2-bin libsasl2-modules db-util
	libbrotli1 libclamav12 libical3 libicu72 libjansson4 libkrb5-3 libldap-2.5-0
	libnghttp2-14 libpcre3 libpq5 libshp2 libsqlite3-0 libwrap0 libxapian30 libxml2 libzephyr4)
servers=internal/testserver/scripts

# step NAME CMD...: runs CMD and prints how long it took.
step() {
	local name=$1 t0=${EPOCHREALTIME/./} ms
	shift
	"$@"
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	printf 'test.sh: %s took %d.%03ds\n' "$name" $((ms / 1000)) $((ms % 1000))
}

# quiet CMD...: runs CMD and shows its output only if it fails.
quiet() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	((rc == 0)) || cat "$log" >&2
	rm -f "$log"
	return $rc
}

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [[ $(id -u) -ne 0 ]]; then
	if ((${#missing[@]})); then
		echo "test.sh: not root, cannot install: ${missing[*]}" >&2
	fi
	echo "test.sh: not root, test servers cannot start; their tests skip (or fail with CI=true)" >&2
else
	if ((${#missing[@]})); then
		echo "test.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		# the scripts in $servers install under this lock too
		step "apt-get update" flock /var/lock/easgate-recipes.lock apt-get update -qq -o DPkg::Lock::Timeout=300
		step "apt-get install" quiet flock /var/lock/easgate-recipes.lock \
			apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
	fi
	# Start and stop each server once, so that what apt cannot do (Cyrus's
	# unpacked .debs in /opt/cyrus-3.6, the cyrus user) happens here and not
	# inside a test. Free ports, so that a developer's own servers do not clash.
	# free_ports: three distinct ports, bound together so none repeats
	free_ports() {
		python3 -c 'import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))'
	}
	warm() {
		local s=$1 d ports
		d=$(mktemp -d)
		read -ra ports < <(free_ports)
		"$servers/start-$s.sh" start "$d" "${ports[@]}" >/dev/null
		"$servers/start-$s.sh" stop "$d" 2>/dev/null
		rm -rf "$d"
	}
	for s in cyrus dovecot radicale xandikos postgres; do
		step "warm-up $s" warm "$s"
	done
	# Cyrus with JMAP push: a one-time build of ~2 min, then a no-op.
	step "build-cyrus-push" "$servers/build-cyrus-push.sh"
	step "warm-up cyrus-push" warm cyrus-push
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

echo "== go mod tidy"
# go.mod must already be tidy: a direct dependency marked // indirect, or a
# go.sum line nothing needs, means someone forgot to run go mod tidy.
if ! tidy=$(go mod tidy -diff 2>&1); then
	echo "go mod tidy -diff: go.mod/go.sum are not tidy; run go mod tidy:" >&2
	echo "$tidy" >&2
	exit 1
fi

echo "== no development-machine paths"
# Notes and recipes live beside the repository (../shared); naming them by
# an absolute path of one machine leaves readers elsewhere nothing to open.
if paths=$(git grep -nI -e '/work/' -- ':!scripts/test.sh' 2>/dev/null); then
	echo "absolute development paths; refer to ../shared/... or the recipe by name:" >&2
	echo "$paths" >&2
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
