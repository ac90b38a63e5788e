#!/usr/bin/env bash
# Cyrus IMAP 3.6 (Debian 12 build) on loopback: IMAP (CONDSTORE/QRESYNC/IDLE),
# JMAP (mail, submission, Cyrus contacts/calendars), CalDAV and CardDAV.
#
#   start-cyrus.sh [start] [WORKDIR] [IMAP_PORT] [HTTP_PORT] [SMTP_PORT]
#   start-cyrus.sh stop    [WORKDIR]
#   start-cyrus.sh status  [WORKDIR]
#
# Defaults: WORKDIR=/tmp/easgate-cyrus IMAP_PORT=21143 HTTP_PORT=21080 SMTP_PORT=21025
# Users (SASL sasldb, PLAIN/LOGIN and HTTP Basic): alice/alice-pass, bob/bob-pass,
# admin/admin-pass (Cyrus admin).  Override with CYRUS_USERS="u1:p1 u2:p2".
#
# Why not `apt-get install cyrus-imapd`: it conflicts with dovecot-imapd (both
# provide imap-server).  Instead the Debian .debs are fetched with
# `apt-get download`, unpacked with `dpkg -x` into CYRUS_PREFIX (default
# /opt/cyrus-3.6), their library dependencies are installed with apt (no
# conflicts), and master runs from there with LD_LIBRARY_PATH and -C/-M pointing
# into WORKDIR.  Nothing is registered with dpkg, no init script, no system
# config is touched; a system user `cyrus` (group mail) is created if missing
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
W=${1:-/tmp/easgate-cyrus}
IMAP_PORT=${2:-21143}
HTTP_PORT=${3:-21080}
SMTP_PORT=${4:-21025}
PREFIX=${CYRUS_PREFIX:-/opt/cyrus-3.6}
USERS=${CYRUS_USERS:-alice:alice-pass bob:bob-pass}
SINK=${CYRUS_SMTP_SINK:-1}
PIDFILE=$W/cyrus.pids
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$PREFIX/usr/lib/cyrus/bin
export LD_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

log() { echo "start-cyrus: $*" >&2; }

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

[ -f "$PREFIX/.complete" ] || lock
if [ ! -f "$PREFIX/.complete" ]; then
  dl=$(mktemp -d); chmod 755 "$dl"
  pkgs="cyrus-common cyrus-imapd cyrus-caldav cyrus-clients"
  (cd "$dl" && apt-get download -q $pkgs >/dev/null 2>&1) \
    || { apt-get update -q >/dev/null && (cd "$dl" && apt-get download -q $pkgs >/dev/null); }
  # library dependencies of the unpacked packages (first alternative, no
  # versions), minus the ones that only matter for a dpkg-managed install
  deps=$(for f in "$dl"/*.deb; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' \
    | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | sort -u \
    | grep -vE '^(cyrus-.*|default-mta|mail-transport-agent|debconf|adduser|lsb-base|init-system-helpers|e2fsprogs|perl|gawk|netbase|libcyrus-imap-perl)$' || true)
  apt_install $deps
  rm -rf "$PREFIX.tmp"; mkdir -p "$PREFIX.tmp"
  for f in "$dl"/*.deb; do dpkg -x "$f" "$PREFIX.tmp"; done
  rm -rf "$PREFIX"; mv "$PREFIX.tmp" "$PREFIX"; rm -rf "$dl"
  touch "$PREFIX/.complete"
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
# no effect in this build (no wslay => EventSource answers 204); kept for newer builds
jmap_pushpoll: 1s
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

echo "cyrus: pids=$(cat "$PIDFILE") imap=127.0.0.1:$IMAP_PORT http=127.0.0.1:$HTTP_PORT smtp-sink=127.0.0.1:$SMTP_PORT workdir=$W"
echo "cyrus: jmap=http://127.0.0.1:$HTTP_PORT/jmap/ caldav=http://127.0.0.1:$HTTP_PORT/dav/calendars/user/<u>/ carddav=http://127.0.0.1:$HTTP_PORT/dav/addressbooks/user/<u>/"
echo "cyrus: users=$USERS (admin:admin-pass) ready in $(( (t1 - t0) / 1000000 )) ms"
