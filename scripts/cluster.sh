#!/usr/bin/env bash
# cluster.sh starts an easgate cluster on this machine, all on loopback:
# PostgreSQL 15 (the shared state), Dovecot with Radicale (the store), two
# easgate nodes on that state and HAProxy in round-robin in front. It
# prints the balancer's URL and the test accounts, and stops everything it
# started, by pid, on Ctrl-C. Run it as root: the servers' start scripts
# install their Debian packages when missing, and PostgreSQL runs as the
# unprivileged postgres user.
#
#   scripts/cluster.sh              # balancer on 127.0.0.1:28080
#   CLUSTER_PORT=9000 CLUSTER_NODES=3 scripts/cluster.sh
#
# Everything lives in a temporary directory, removed at the end
# (CLUSTER_KEEP=1 keeps it, with each node's log in it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
servers=$repo/internal/testserver/scripts
lb_port=${CLUSTER_PORT:-28080}
nodes=${CLUSTER_NODES:-2}

if [[ $(id -u) -ne 0 ]]; then
	echo "cluster.sh: run as root (the start scripts install packages; PostgreSQL runs as user postgres)" >&2
	exit 1
fi

T=$(mktemp -d /tmp/easgate-cluster.XXXXXX)
chmod 755 "$T" # PostgreSQL, Dovecot and Radicale run as their own users
node_pids=()
started=()

log() { echo "cluster.sh: $*" >&2; }

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	trap - INT TERM EXIT
	log "stopping"
	# SIGTERM: a node answers its waiting Pings and ends its requests
	for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${node_pids[@]}"; do
		for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	local i
	for ((i = ${#started[@]} - 1; i >= 0; i--)); do
		read -r name dir <<<"${started[$i]}"
		"$servers/start-$name.sh" stop "$dir" >/dev/null 2>&1 || log "stopping $name failed"
	done
	if [[ ${CLUSTER_KEEP:-} == 1 ]]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_ports N: N distinct ports that were free a moment ago
free_ports() {
	python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))' "$1"
}

# start NAME PORT...: runs a server's start script in its own directory
start() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	"$servers/start-$name.sh" start "$T/$name" "$@" >"$T/$name.out"
	started+=("$name $T/$name")
	log "$name: $(head -1 "$T/$name.out")"
}

read -ra p < <(free_ports $((5 + 2 * nodes)))
pg_port=${p[0]} imap_port=${p[1]} sub_port=${p[2]} smtp_port=${p[3]} dav_port=${p[4]}
start postgres "$pg_port"
dsn="postgres://postgres@127.0.0.1:$pg_port/easgate?sslmode=disable"
start dovecot "$imap_port" "$sub_port" "$smtp_port"
start radicale "$dav_port"

log "building easgate"
go build -o "$T/easgate" ./cmd/easgate

backends=()
for ((i = 1; i <= nodes; i++)); do
	listen=127.0.0.1:${p[$((3 + 2 * i))]}
	admin=127.0.0.1:${p[$((4 + 2 * i))]}
	d=$T/node$i
	mkdir -p "$d"
	cat >"$d/easgate.toml" <<EOF
# node $i of the cluster: all nodes share the state in PostgreSQL
[server]
listen = "$listen"
mail_domain = "example.com"
[admin]
listen = "$admin"
[policy]
mode = "allow"
[state]
url = "$dsn"
dir = "$d"            # only the admin socket: the state is in PostgreSQL
[store]
kind = "imapdav"
[imap]
addr = "127.0.0.1:$imap_port"
tls = "none"
submission = "127.0.0.1:$sub_port"
[dav]
caldav_url = "http://127.0.0.1:$dav_port/"
carddav_url = "http://127.0.0.1:$dav_port/"
EOF
	"$T/easgate" serve -config "$d/easgate.toml" >"$d/easgate.log" 2>&1 &
	node_pids+=("$!")
	for _ in $(seq 1 300); do
		curl -s -o /dev/null -X OPTIONS "http://$listen/Microsoft-Server-ActiveSync" && break
		kill -0 "${node_pids[-1]}" 2>/dev/null || {
			log "node $i exited; its log:"
			cat "$d/easgate.log" >&2
			exit 1
		}
		sleep 0.1
	done
	backends+=("$listen")
	log "node $i: pid ${node_pids[-1]} on http://$listen, metrics on http://$admin/metrics, log $d/easgate.log"
done

start haproxy "$lb_port" "${backends[@]}"

cat <<EOF

easgate cluster of $nodes nodes is up.

  balancer (point phones here):  http://127.0.0.1:$lb_port/Microsoft-Server-ActiveSync
  accounts:                      alice / alice-pass, bob / bob-pass (mail domain example.com)
  check it:                      $T/easgate check -user alice http://127.0.0.1:$lb_port
  shared state:                  $dsn
  deliver a mail to alice:       $T/dovecot/run/lmtp (LMTP socket)
  HAProxy per-request log:       $T/haproxy/log/haproxy.log

Ctrl-C stops everything.
EOF

# Run until interrupted; report a node that dies.
while :; do
	for i in "${!node_pids[@]}"; do
		if ! kill -0 "${node_pids[$i]}" 2>/dev/null; then
			log "node $((i + 1)) (pid ${node_pids[$i]}) exited; the other nodes still serve"
			unset 'node_pids[i]'
		fi
	done
	sleep 1
done
