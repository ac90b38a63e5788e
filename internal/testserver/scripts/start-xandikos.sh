#!/usr/bin/env bash
# Xandikos 0.2 (Debian 12, git-backed) CalDAV/CardDAV on loopback, multi-user with
# Basic auth via xandikos-auth.py (next to this script; plain xandikos has no auth
# and a single principal).
#
#   start-xandikos.sh [start] [WORKDIR] [PORT]
#   start-xandikos.sh stop    [WORKDIR]
#   start-xandikos.sh status  [WORKDIR]
#
# Defaults: WORKDIR=/tmp/easgate-xandikos PORT=23233
# Users: alice/alice-pass, bob/bob-pass (XANDIKOS_USERS="u1:p1 u2:p2" overrides).
# Collections: /<user>/calendars/calendar/ and /<user>/contacts/addressbook/.
set -euo pipefail

ACTION=start
case "${1:-}" in start|stop|status) ACTION=$1; shift ;; esac
W=${1:-/tmp/easgate-xandikos}
PORT=${2:-23233}
USERS=${XANDIKOS_USERS:-alice:alice-pass bob:bob-pass}
PIDFILE=$W/xandikos.pids
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "start-xandikos: $*" >&2; }

stop() {
  [ -f "$PIDFILE" ] || { log "no pidfile $PIDFILE"; return 0; }
  local pids; pids=$(cat "$PIDFILE")
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=
    # a zombie counts as gone: pid 1 may reap it late (or never, e.g. `go test` as pid 1)
    for p in $pids; do
      case $(sed -n 's/^State:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null) in Z*|'') ;; *) alive=1 ;; esac
    done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$PIDFILE"
  log "stopped pids: $pids"
}

if [ "$ACTION" = stop ]; then stop; exit 0; fi
if [ "$ACTION" = status ]; then
  [ -f "$PIDFILE" ] || { echo "not running"; exit 1; }
  for p in $(cat "$PIDFILE"); do kill -0 "$p" 2>/dev/null || { echo "pid $p dead"; exit 1; }; done
  echo "running: $(cat "$PIDFILE")"; exit 0
fi

# one installer at a time when several test packages start servers in parallel;
# taken only when something is missing, so that a warm start never waits for
# another caller's install (fd 9 is closed again before any server starts, so
# no server inherits the lock)
LOCKED=
lock() { [ -n "$LOCKED" ] && return 0; exec 9>/var/lock/easgate-recipes.lock; flock -w 600 9; LOCKED=1; }
need_pkgs() { for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$p"; done; }
# apt_install PKG...: idempotent; waits for dpkg's lock; refreshes the package lists once if needed
apt_install() {
  local missing; missing=$(need_pkgs "$@"); [ -n "$missing" ] || return 0
  lock; missing=$(need_pkgs "$@"); [ -n "$missing" ] || return 0
  log "apt-get install $missing"
  local opts="-y -q --no-install-recommends -o DPkg::Lock::Timeout=300"
  DEBIAN_FRONTEND=noninteractive apt-get install $opts $missing >/dev/null 2>&1 || {
    apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install $opts $missing >/dev/null; }
}
apt_install xandikos curl
exec 9>&-

if [ -f "$PIDFILE" ]; then log "$PIDFILE exists; run '$0 stop $W' first"; exit 1; fi
t0=$(date +%s%N)
mkdir -p "$W"/{data,log}
: > "$W/users"
for up in $USERS; do echo "$up" >> "$W/users"; done
chmod 600 "$W/users"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_open "$PORT"; then log "port $PORT already in use"; exit 1; fi
# Debian's python (xandikos and aiohttp are Debian packages), not a pyenv one
setsid /usr/bin/python3 "$HERE/xandikos-auth.py" 127.0.0.1 "$PORT" "$W/data" "$W/users" \
  </dev/null >"$W/log/xandikos.log" 2>&1 &
echo "$!" > "$PIDFILE"

ok=
for _ in $(seq 1 200); do
  if port_open "$PORT"; then ok=1; break; fi
  sleep 0.05
done
[ -n "$ok" ] || { log "xandikos did not come up; see $W/log/xandikos.log"; stop; exit 1; }
for up in $USERS; do
  code=$(curl -sS --max-time 10 -u "$up" -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "http://127.0.0.1:$PORT/${up%%:*}/")
  [ "$code" = 207 ] || { log "PROPFIND as ${up%%:*} gave $code; see $W/log/xandikos.log"; stop; exit 1; }
done
t1=$(date +%s%N)

echo "xandikos: pids=$(cat "$PIDFILE") http=127.0.0.1:$PORT workdir=$W"
echo "xandikos: collections http://127.0.0.1:$PORT/<user>/calendars/calendar/ and /<user>/contacts/addressbook/"
echo "xandikos: users=$USERS ready in $(( (t1 - t0) / 1000000 )) ms"
