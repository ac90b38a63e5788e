#!/usr/bin/env bash
# Cyrus IMAP 3.6 WITH JMAP PUSH on loopback: the same as start-cyrus.sh (IMAP,
# JMAP, CalDAV, CardDAV, LMTP, SMTP sink) but running a rebuild of Debian's
# cyrus-imapd 3.6.1 source with wslay (build-cyrus-push.sh, next to this
# script), so that JMAP push works:
#   EventSource (RFC 8620 7.3): GET /jmap/eventsource/?types=*&closeafter=no&ping=N
#   WebSocket   (RFC 8887):     ws://127.0.0.1:HTTP_PORT/jmap/ws/ (subprotocol "jmap";
#                               the session advertises it as "wss:/jmap/ws/")
# Cyrus polls for changes every jmap_pushpoll (CYRUS_JMAP_PUSHPOLL, default 1s,
# the minimum), so a state event comes 0-1 s after a change.
# CYRUS_JMAP_PUSHPOLL (default 1s) and CYRUS_HTTPTIMEOUT (default 5m: Cyrus closes
# an EventSource stream after this long without client input, pings or not)
# go into imapd.conf.
#
#   start-cyrus-push.sh [start] [WORKDIR] [IMAP_PORT] [HTTP_PORT] [SMTP_PORT]
#   start-cyrus-push.sh stop    [WORKDIR]
#   start-cyrus-push.sh status  [WORKDIR]
#
# Defaults: WORKDIR=/tmp/easgate-cyrus-push IMAP_PORT=24143 HTTP_PORT=24080 SMTP_PORT=24025
# (so it runs beside start-cyrus.sh's 21143/21080/21025).
#
# If CYRUS_PUSH_PREFIX (default /opt/cyrus-3.6-push) is not complete, start
# runs build-cyrus-push.sh first: a one-time build of about 2 minutes on
# 2 cores, plus ~170 MB of build packages on a bare machine (see servers.md).  CYRUS_PUSH_AUTOBUILD=0 makes start fail at once
# instead (exit 2), e.g. for a test that should skip rather than wait.
# Users (SASL sasldb, PLAIN/LOGIN and HTTP Basic): alice/alice-pass, bob/bob-pass,
# admin/admin-pass (Cyrus admin).  Override with CYRUS_USERS="u1:p1 u2:p2".
#
# Like start-cyrus.sh, nothing is registered with dpkg and Dovecot is not
# touched: master runs from the prefix with LD_LIBRARY_PATH and -C/-M pointing
# into WORKDIR; a system user `cyrus` (group mail) is created if missing
# because Cyrus refuses to run as root.
#
# EmailSubmission: Cyrus hands mail to 127.0.0.1:SMTP_PORT (smtp_backend: host).
# With CYRUS_SMTP_SINK=1 (default) this script starts smtp-sink.py (next to this
# script) there; it stores each message as WORKDIR/smtp-sink/<n>.eml.  Set
# CYRUS_SMTP_SINK=0 to run your own sink on that port instead.
# CYRUS_JMAP_NONSTANDARD=yes (default) enables jmap_nonstandard_extensions, which
# is what turns on Cyrus's JMAP contacts and calendars capabilities.
set -euo pipefail

ACTION=start
case "${1:-}" in start|stop|status) ACTION=$1; shift ;; esac
W=${1:-/tmp/easgate-cyrus-push}
IMAP_PORT=${2:-24143}
HTTP_PORT=${3:-24080}
SMTP_PORT=${4:-24025}
PREFIX=${CYRUS_PUSH_PREFIX:-/opt/cyrus-3.6-push}
PUSHPOLL=${CYRUS_JMAP_PUSHPOLL:-1s}
USERS=${CYRUS_USERS:-alice:alice-pass bob:bob-pass}
SINK=${CYRUS_SMTP_SINK:-1}
PIDFILE=$W/cyrus.pids
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$PREFIX/usr/lib/cyrus/bin
export LD_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

log() { echo "start-cyrus-push: $*" >&2; }

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

# ---------------------------------------------------------------- install
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

if [ ! -f "$PREFIX/.complete" ]; then
  if [ "${CYRUS_PUSH_AUTOBUILD:-1}" = 0 ]; then
    log "$PREFIX is not built (run $HERE/build-cyrus-push.sh; CYRUS_PUSH_AUTOBUILD=0)"; exit 2
  fi
  log "building Cyrus with wslay into $PREFIX (one time, ~2 min on 2 cores; log on stderr)"
  CYRUS_PUSH_PREFIX=$PREFIX "$HERE/build-cyrus-push.sh" >&2
fi
# a prefix restored from a cache onto a machine that never ran the build lacks
# the runtime libraries (these are what the built binaries link, per ldd)
if ldd "$BIN/httpd" | grep -q 'not found'; then
  apt_install libwslay1 libbrotli1 libclamav12 libical3 libicu72 libjansson4 libkrb5-3 libgssapi-krb5-2 \
    libldap-2.5-0 libnghttp2-14 libpcre3 libpq5 libsasl2-2 libshp2 libsqlite3-0 libssl3 libuuid1 \
    libwrap0 libxapian30 libxml2 libzephyr4 libzstd1 zlib1g libcom-err2
fi
sink_pkg=; [ "$SINK" = 1 ] && sink_pkg=python3
apt_install sasl2-bin libsasl2-modules db-util tzdata curl $sink_pkg
getent passwd cyrus >/dev/null || { lock; getent passwd cyrus >/dev/null; } || useradd --system --gid mail --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin cyrus
exec 9>&-
if ldd "$BIN/httpd" | grep -q 'not found'; then log "missing libraries:"; ldd "$BIN/httpd" | grep 'not found' >&2; exit 1; fi

# ---------------------------------------------------------------- configure
if [ -f "$PIDFILE" ]; then log "$PIDFILE exists; run '$0 stop $W' first"; exit 1; fi
t0=$(date +%s%N)
mkdir -p "$W"/{conf/socket,spool,search,sieve,log,smtp-sink}
cat > "$W/imapd.conf" <<EOF
# generated by start-cyrus.sh -- test instance, plaintext auth on loopback only
configdirectory: $W/conf
partition-default: $W/spool
defaultpartition: default
sievedir: $W/sieve
mboxname_lockpath: $W/conf/lock
# Cyrus refuses to run as root; master drops to this user
cyrus_user: cyrus
cyrus_group: mail
servername: localhost
admins: admin
allowplaintext: yes
# default 3 s pause after a failed IMAP login; keep negative-auth tests fast
failedloginpause: 0s
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $W/conf/sasldb2
sasl_mech_list: PLAIN LOGIN
virtdomains: off
unixhierarchysep: yes
altnamespace: yes
delete_mode: immediate
# INBOX and these folders are created at the first IMAP login (not over HTTP)
autocreate_quota: 0
autocreate_post: yes
autocreate_inbox_folders: Drafts | Sent | Trash | Junk | Archive
autocreate_subscribe_folders: Drafts | Sent | Trash | Junk | Archive
# special-use flags -> JMAP Mailbox roles
xlist-drafts: Drafts
xlist-sent: Sent
xlist-trash: Trash
xlist-junk: Junk
xlist-archive: Archive
# JMAP is silently disabled without conversations
conversations: yes
conversations_db: twoskip
httpmodules: caldav carddav jmap
httpallowcompress: no
# contacts + calendars capabilities only appear with this on
jmap_nonstandard_extensions: ${CYRUS_JMAP_NONSTANDARD:-yes}
# JMAP push (EventSource + WebSocket): how often each push connection polls
# the user's modseq; minimum and granularity 1 s (0 disables push)
jmap_pushpoll: $PUSHPOLL
# idle HTTP connections are closed after this; an EventSource stream counts as
# idle (server pings do not reset it), so it ends after 5 min (Cyrus default)
# and the client must reconnect with Last-Event-Id.  Lower it to test reconnects.
httptimeout: ${CYRUS_HTTPTIMEOUT:-5m}
imapidlepoll: 1s
# EmailSubmission goes out over SMTP to the sink
smtp_backend: host
smtp_host: 127.0.0.1:$SMTP_PORT/noauth
# JMAP Email/query text/from/subject/body filters need a search engine
# (serverFail without); the rolling squatter indexes within ~1 s of a change
search_engine: xapian
search_index_headers: yes
defaultsearchtier: t1
t1searchpartition-default: $W/search
sync_log: yes
sync_log_channels: squatter
EOF
cat > "$W/cyrus.conf" <<EOF
START {
  recover cmd="$BIN/ctl_cyrusdb -C $W/imapd.conf -r"
}
SERVICES {
  imap     cmd="$BIN/imapd -C $W/imapd.conf" listen="127.0.0.1:$IMAP_PORT" prefork=1 maxchild=50
  http     cmd="$BIN/httpd -C $W/imapd.conf" listen="127.0.0.1:$HTTP_PORT" prefork=1 maxchild=50
  lmtpunix cmd="$BIN/lmtpd -C $W/imapd.conf" listen="$W/conf/socket/lmtp" prefork=0 maxchild=10
}
EVENTS {
  checkpoint cmd="$BIN/ctl_cyrusdb -C $W/imapd.conf -c" period=30
}
DAEMON {
  idled    cmd="$BIN/idled -C $W/imapd.conf"
  squatter cmd="$BIN/squatter -C $W/imapd.conf -R -d"
}
EOF
for up in admin:admin-pass $USERS; do
  printf '%s' "${up#*:}" | saslpasswd2 -p -c -f "$W/conf/sasldb2" -u localhost "${up%%:*}"
done
chown -R cyrus:mail "$W"
chmod 640 "$W/conf/sasldb2"
# master runs as cyrus: every parent of WORKDIR must be enterable (Go's t.TempDir() is 0700)
setpriv --reuid=cyrus --regid=mail --clear-groups test -r "$W/imapd.conf" \
  || { log "$W is not reachable for user cyrus: a parent dir is 0700 (t.TempDir()?); chmod o+x it"; exit 1; }

# ---------------------------------------------------------------- start
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$IMAP_PORT" "$HTTP_PORT"; do
  if port_open "$p"; then log "port $p already in use"; exit 1; fi
done
pids=
if [ "$SINK" = 1 ]; then
  if port_open "$SMTP_PORT"; then log "port $SMTP_PORT already in use (CYRUS_SMTP_SINK=0 to use your own sink)"; exit 1; fi
  setsid /usr/bin/python3 "$HERE/smtp-sink.py" 127.0.0.1 "$SMTP_PORT" "$W/smtp-sink" </dev/null >"$W/log/smtp-sink.log" 2>&1 &
  pids="$!"
fi
setsid "$BIN/master" -C "$W/imapd.conf" -M "$W/cyrus.conf" -p "$W/conf/master.pid" -L "$W/log/master.log" \
  </dev/null >/dev/null 2>&1 &
pids="$! $pids"
echo "$pids" > "$PIDFILE"

ok=
for _ in $(seq 1 200); do
  if port_open "$IMAP_PORT" && port_open "$HTTP_PORT" && { [ "$SINK" != 1 ] || port_open "$SMTP_PORT"; }; then ok=1; break; fi
  sleep 0.05
done
[ -n "$ok" ] || { log "server did not come up; see $W/log/master.log"; stop; exit 1; }

# INBOX + special folders are autocreated on the first IMAP login only (JMAP
# and DAV answer 500/404 for a user that never logged in over IMAP); then a
# PROPFIND makes Cyrus create the Default calendar and addressbook.
for up in $USERS; do
  u=${up%%:*}
  curl -sS --max-time 10 -u "$up" "imap://127.0.0.1:$IMAP_PORT/" >/dev/null \
    || { log "IMAP login failed for $u; see $W/log/master.log"; stop; exit 1; }
  curl -sS --max-time 10 -u "$up" -X PROPFIND -H 'Depth: 1' "http://127.0.0.1:$HTTP_PORT/dav/calendars/user/$u/" >/dev/null
  curl -sS --max-time 10 -u "$up" -X PROPFIND -H 'Depth: 1' "http://127.0.0.1:$HTTP_PORT/dav/addressbooks/user/$u/" >/dev/null
done
t1=$(date +%s%N)

echo "cyrus-push: pids=$(cat "$PIDFILE") imap=127.0.0.1:$IMAP_PORT http=127.0.0.1:$HTTP_PORT smtp-sink=127.0.0.1:$SMTP_PORT workdir=$W"
echo "cyrus-push: jmap=http://127.0.0.1:$HTTP_PORT/jmap/ caldav=http://127.0.0.1:$HTTP_PORT/dav/calendars/user/<u>/ carddav=http://127.0.0.1:$HTTP_PORT/dav/addressbooks/user/<u>/"
echo "cyrus-push: eventsource=http://127.0.0.1:$HTTP_PORT/jmap/eventsource/?types=*&closeafter=no&ping=30 websocket=ws://127.0.0.1:$HTTP_PORT/jmap/ws/"
echo "cyrus-push: users=$USERS (admin:admin-pass) ready in $(( (t1 - t0) / 1000000 )) ms"
