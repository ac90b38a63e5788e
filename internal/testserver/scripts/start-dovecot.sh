#!/usr/bin/env bash
# Standalone Dovecot 2.3 (Debian 12) on loopback: IMAP with CONDSTORE/QRESYNC/IDLE,
# optional submission (relaying to a local SMTP sink) and LMTP delivery socket.
# No systemd, no /etc/dovecot involvement: everything lives in WORKDIR.
#
#   start-dovecot.sh [start] [WORKDIR] [IMAP_PORT] [SUBMISSION_PORT] [SMTP_PORT]
#   start-dovecot.sh stop    [WORKDIR]
#   start-dovecot.sh status  [WORKDIR]
#
# Defaults: WORKDIR=/tmp/easgate-dovecot IMAP_PORT=22143 SUBMISSION_PORT=22587 SMTP_PORT=22025
# Users (passwd-file, PLAIN/LOGIN, no TLS): alice/alice-pass, bob/bob-pass;
# override with DOVECOT_USERS="u1:p1 u2:p2".  Mail: maildir in WORKDIR/mail/<user>,
# owned by nobody:nogroup.  LMTP socket: WORKDIR/run/lmtp (deliver "incoming" mail).
# Submission relays to 127.0.0.1:SMTP_PORT; DOVECOT_SMTP_SINK=1 (default) starts
# smtp-sink.py (next to this script) there, storing WORKDIR/smtp-sink/<n>.eml.
# DOVECOT_EXTRA_CONF=FILE is included at the end of the generated dovecot.conf.
set -euo pipefail

ACTION=start
case "${1:-}" in start|stop|status) ACTION=$1; shift ;; esac
W=${1:-/tmp/easgate-dovecot}
IMAP_PORT=${2:-22143}
SUB_PORT=${3:-22587}
SMTP_PORT=${4:-22025}
USERS=${DOVECOT_USERS:-alice:alice-pass bob:bob-pass}
SINK=${DOVECOT_SMTP_SINK:-1}
PIDFILE=$W/dovecot.pids
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "start-dovecot: $*" >&2; }

# members PID...: the live processes among PIDs and those of their sessions.
# setsid made the master a session leader and its children (imap, log,
# stats, ...) stay in its session after it exits and they are reparented;
# the session id cannot be reused while any of them lives.
# A zombie counts as gone: pid 1 may reap it late (or never, e.g. `go test` as pid 1).
members() {
  local d s p
  for d in /proc/[0-9]*; do
    read -r s 2>/dev/null < "$d/stat" || continue
    s=${s##*) }; set -- $s   # state ppid pgrp session ...
    case $1 in Z*|X*) continue ;; esac
    for p in $PIDS; do
      if [ "${d#/proc/}" = "$p" ] || [ "$4" = "$p" ]; then echo "${d#/proc/}"; break; fi
    done
  done
}

stop() {
  [ -f "$PIDFILE" ] || { log "no pidfile $PIDFILE"; return 0; }
  PIDS=$(cat "$PIDFILE")
  local left i
  left=$(members)
  # TERM all; KILL what is left after 10 s; return once all are gone
  for p in $left; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 120); do
    left=$(members)
    [ -z "$left" ] && break
    if [ "$i" = 100 ]; then log "killing $left"; for p in $left; do kill -KILL "$p" 2>/dev/null || true; done; fi
    sleep 0.1
  done
  [ -z "$left" ] || log "still alive after KILL: $left"
  rm -f "$PIDFILE"
  log "stopped pids: $PIDS"
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
# on a machine without policy-rc.d the package starts the system dovecot on 143/993;
# harmless here (other ports, other base_dir), stop it yourself if unwanted
sink_pkg=; [ "$SINK" = 1 ] && sink_pkg=python3
apt_install dovecot-core dovecot-imapd dovecot-submissiond dovecot-lmtpd curl $sink_pkg
exec 9>&-

# ---------------------------------------------------------------- configure
if [ -f "$PIDFILE" ]; then log "$PIDFILE exists; run '$0 stop $W' first"; exit 1; fi
t0=$(date +%s%N)
mkdir -p "$W"/{run,log,mail,smtp-sink}
# auth (user dovecot) and mail (nobody) must enter WORKDIR: mktemp -d and Go's
# t.TempDir() make 0700 dirs, so open WORKDIR and insist its parents are open too
chmod 755 "$W"
setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$W" \
  || { log "$W is not reachable for user nobody: a parent dir is 0700 (t.TempDir()?); chmod o+x it"; exit 1; }
: > "$W/users"
for up in $USERS; do echo "${up%%:*}:{PLAIN}${up#*:}::::::" >> "$W/users"; done
chmod 640 "$W/users"; chgrp dovecot "$W/users"
chown nobody:nogroup "$W/mail"

cat > "$W/dovecot.conf" <<EOF
# generated by start-dovecot.sh -- standalone test instance
instance_name = easgate-dovecot-$IMAP_PORT
base_dir = $W/run
state_dir = $W/state
log_path = $W/log/dovecot.log
protocols = imap submission lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# default 2 s per failed login; keep negative-auth tests fast
auth_failure_delay = 0
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:$W/mail/%n/Maildir
mail_uid = nobody
mail_gid = nogroup
hostname = localhost
postmaster_address = postmaster@localhost
# IDLE: inotify wakes idlers at once; this only bounds the keepalive
imap_idle_notify_interval = 30 secs
# Without inotify, IDLE looks at the mailbox this often. The kernel gives
# each user 128 inotify instances and every imap process here runs as one
# user, so parallel test packages use them up and IDLE falls back to this
# check: 2 s (DOVECOT_IDLE_CHECK) keeps their Pings prompt. Dovecot's own
# default, which load scripts pass to measure what production does, is 30 s.
mailbox_idle_check_interval = ${DOVECOT_IDLE_CHECK:-2 secs}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $W/users
}
userdb {
  driver = static
  args = home=$W/mail/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUB_PORT
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = $SMTP_PORT
submission_relay_trusted = yes
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  auth_username_format = %n
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
EOF

# DOVECOT_EXTRA_CONF: a file of settings that follow the above (start-dovecot-push.sh)
if [ -n "${DOVECOT_EXTRA_CONF:-}" ]; then echo "!include $DOVECOT_EXTRA_CONF" >> "$W/dovecot.conf"; fi

# ---------------------------------------------------------------- start
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$IMAP_PORT" "$SUB_PORT"; do
  if port_open "$p"; then log "port $p already in use"; exit 1; fi
done
doveconf -c "$W/dovecot.conf" -n >/dev/null   # fail early on config errors
pids=
if [ "$SINK" = 1 ]; then
  if port_open "$SMTP_PORT"; then log "port $SMTP_PORT already in use (DOVECOT_SMTP_SINK=0 to use your own sink)"; exit 1; fi
  setsid /usr/bin/python3 "$HERE/smtp-sink.py" 127.0.0.1 "$SMTP_PORT" "$W/smtp-sink" </dev/null >"$W/log/smtp-sink.log" 2>&1 &
  pids="$!"
fi
setsid /usr/sbin/dovecot -F -c "$W/dovecot.conf" </dev/null >"$W/log/dovecot.stdout" 2>&1 &
pids="$! $pids"
echo "$pids" > "$PIDFILE"

ok=
for _ in $(seq 1 200); do
  if port_open "$IMAP_PORT" && port_open "$SUB_PORT" && { [ "$SINK" != 1 ] || port_open "$SMTP_PORT"; }; then ok=1; break; fi
  sleep 0.05
done
[ -n "$ok" ] || { log "server did not come up; see $W/log/dovecot.log"; stop; exit 1; }
# a real login per user: proves auth works and creates the maildir + special folders
# (DOVECOT_CHECK_USERS=N: only the first N, for load tests with many users)
checked=0
for up in $USERS; do
  [ -n "${DOVECOT_CHECK_USERS:-}" ] && [ "$checked" -ge "$DOVECOT_CHECK_USERS" ] && break
  checked=$((checked + 1))
  curl -sS --max-time 10 -u "$up" "imap://127.0.0.1:$IMAP_PORT/" >/dev/null \
    || { log "IMAP login failed for ${up%%:*}; see $W/log/dovecot.log"; stop; exit 1; }
done
t1=$(date +%s%N)

echo "dovecot: pids=$(cat "$PIDFILE") imap=127.0.0.1:$IMAP_PORT submission=127.0.0.1:$SUB_PORT smtp-sink=127.0.0.1:$SMTP_PORT lmtp=$W/run/lmtp workdir=$W"
echo "dovecot: users=$USERS ready in $(( (t1 - t0) / 1000000 )) ms"
