#!/usr/bin/env bash
# Radicale 3.1 (Debian 12) CalDAV/CardDAV on loopback with htpasswd (plain) auth.
#
#   start-radicale.sh [start] [WORKDIR] [PORT]
#   start-radicale.sh stop    [WORKDIR]
#   start-radicale.sh status  [WORKDIR]
#
# Defaults: WORKDIR=/tmp/easgate-radicale PORT=23232
# Users: alice/alice-pass, bob/bob-pass (RADICALE_USERS="u1:p1 u2:p2" overrides).
# Each user gets /<user>/calendar/ (MKCALENDAR, VEVENT+VTODO) and
# /<user>/contacts/ (extended MKCOL addressbook); rights: owner_only.
# Only the config file given with --config is read (Debian's /etc/radicale/config
# asks for remote_user auth and TLS, which we do not want).
set -euo pipefail

ACTION=start
case "${1:-}" in start|stop|status) ACTION=$1; shift ;; esac
W=${1:-/tmp/easgate-radicale}
PORT=${2:-23232}
USERS=${RADICALE_USERS:-alice:alice-pass bob:bob-pass}
PIDFILE=$W/radicale.pids

log() { echo "start-radicale: $*" >&2; }

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
apt_install radicale curl
exec 9>&-

if [ -f "$PIDFILE" ]; then log "$PIDFILE exists; run '$0 stop $W' first"; exit 1; fi
t0=$(date +%s%N)
mkdir -p "$W"/{collections,log}
: > "$W/users"
for up in $USERS; do echo "$up" >> "$W/users"; done
chmod 600 "$W/users"
cat > "$W/config" <<EOF
[server]
hosts = 127.0.0.1:$PORT
max_connections = 20
timeout = 30
ssl = False

[auth]
type = htpasswd
htpasswd_filename = $W/users
htpasswd_encryption = plain
# default is 1 s per failed login; keep tests fast
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = $W/collections
# sync-tokens older than this are forgotten (default 30 days)
max_sync_token_age = 2592000

[web]
type = none

[logging]
level = warning
mask_passwords = True
EOF

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_open "$PORT"; then log "port $PORT already in use"; exit 1; fi
# /usr/bin/radicale has a /usr/bin/python3 shebang: Debian's python3-radicale
setsid /usr/bin/radicale --config "$W/config" </dev/null >"$W/log/radicale.log" 2>&1 &
echo "$!" > "$PIDFILE"

ok=
for _ in $(seq 1 200); do
  if port_open "$PORT"; then ok=1; break; fi
  sleep 0.05
done
[ -n "$ok" ] || { log "radicale did not come up; see $W/log/radicale.log"; stop; exit 1; }

MKCAL='<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Calendar</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>'
MKAB='<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>Contacts</D:displayname></D:prop></D:set></D:mkcol>'
for up in $USERS; do
  u=${up%%:*}
  base="http://127.0.0.1:$PORT/$u"
  # first authenticated request creates the principal collection /<user>/
  curl -sS --max-time 10 -u "$up" -X PROPFIND -H 'Depth: 0' -o /dev/null "$base/"
  code=$(curl -sS --max-time 10 -u "$up" -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "$base/calendar/")
  [ "$code" = 207 ] || curl -sS --max-time 10 -u "$up" -o /dev/null -X MKCALENDAR -H 'Content-Type: application/xml' --data "$MKCAL" "$base/calendar/"
  code=$(curl -sS --max-time 10 -u "$up" -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "$base/contacts/")
  [ "$code" = 207 ] || curl -sS --max-time 10 -u "$up" -o /dev/null -X MKCOL -H 'Content-Type: application/xml' --data "$MKAB" "$base/contacts/"
  for c in calendar contacts; do
    code=$(curl -sS --max-time 10 -u "$up" -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' "$base/$c/")
    [ "$code" = 207 ] || { log "$u/$c/ not there (PROPFIND $code); see $W/log/radicale.log"; stop; exit 1; }
  done
done
t1=$(date +%s%N)

echo "radicale: pids=$(cat "$PIDFILE") http=127.0.0.1:$PORT workdir=$W"
echo "radicale: collections http://127.0.0.1:$PORT/<user>/calendar/ and /<user>/contacts/"
echo "radicale: users=$USERS ready in $(( (t1 - t0) / 1000000 )) ms"
