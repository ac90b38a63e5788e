#!/usr/bin/env bash
# start-dovecot.sh (beside this file) with easgate's store-side push: the
# push_notification plugin loads configs/dovecot/easgate-push.lua through
# configs/dovecot/95-easgate-push.conf, the shipped files, with their
# paths, URL and token replaced. No IDLE is needed for push then.
#
#   start-dovecot-push.sh [start] WORKDIR [IMAP_PORT] [SUBMISSION_PORT] [SMTP_PORT]
#   start-dovecot-push.sh stop|status WORKDIR
#
#   PUSH_URL            required: easgate's events endpoint, http://127.0.0.1:PORT/dovecot/events
#   PUSH_TOKEN          easgate's imap.events_token; empty sends no Authorization
#   PUSH_TIMEOUT_MSECS  the POST's time limit; default the conf's (200)
#   PUSH_DRIVER=none    start without the plugin (the IDLE baseline of scripts/pushload)
#   DOVECOT_MAX_USERS   raise Dovecot's process and client limits so that this
#                       many users can each hold an IDLE connection (Dovecot's
#                       default allows 100 imap processes); only the first two
#                       users' logins are checked at start
#   DOVECOT_FAST_LOGIN=1  imap-login in high-performance mode and spare imap
#                       processes, which docs/OPERATIONS.md recommends with push
#   DOVECOT_REUSE_IMAP=1  an imap process serves one login after another
#                       (service_count = 0) instead of a new process per login:
#                       ~300 logins/s rather than ~5 at load 16 (scripts/pingload)
# Users, ports and the rest as start-dovecot.sh (DOVECOT_USERS="u1:p1 u2:p2").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIGS=${EASGATE_DOVECOT_CONFIGS:-$HERE/../../../configs/dovecot}
case "${1:-}" in stop|status) exec "$HERE/start-dovecot.sh" "$@" ;; start) shift ;; esac
W=${1:-/tmp/easgate-dovecot}
DRIVER=${PUSH_DRIVER:-lua}
log() { echo "start-dovecot-push: $*" >&2; }

mkdir -p "$W"
chmod 755 "$W"
: > "$W/push.conf"
if [ "$DRIVER" != none ]; then
  [ -n "${PUSH_URL:-}" ] || { log "PUSH_URL is not set"; exit 2; }
  install -m 644 "$CONFIGS/easgate-push.lua" "$W/easgate-push.lua"
  sed -e "s|/etc/dovecot/easgate-push.lua|$W/easgate-push.lua|" \
      -e "s|^\( *push_lua_url = \).*|\1$PUSH_URL|" \
      -e "s|^\( *push_lua_auth = \).*|\1Bearer ${PUSH_TOKEN:-}|" \
      ${PUSH_TIMEOUT_MSECS:+-e "s|^\( *push_lua_timeout_msecs = \).*|\1$PUSH_TIMEOUT_MSECS|"} \
      "$CONFIGS/95-easgate-push.conf" > "$W/push.conf"
  [ -n "${PUSH_TOKEN:-}" ] || sed -i '/push_lua_auth/d' "$W/push.conf"
  # the shipped conf must still hold what the sed replaced
  grep -q "lua:file=$W/easgate-push.lua" "$W/push.conf" && grep -q "push_lua_url = $PUSH_URL" "$W/push.conf" \
    || { log "$CONFIGS/95-easgate-push.conf lacks the settings this script replaces"; exit 1; }
fi
if [ -n "${DOVECOT_MAX_USERS:-}" ]; then
  n=$DOVECOT_MAX_USERS
  cat >> "$W/push.conf" <<CONF
# DOVECOT_MAX_USERS=$n: an IDLE connection is one imap process
default_process_limit = $((n + 100))
default_client_limit = $((4 * n + 1000))
service imap {
  process_limit = $((n + 100))
}
service anvil {
  client_limit = $((4 * n + 1000))
}
CONF
  export DOVECOT_CHECK_USERS=2
fi
if [ "${DOVECOT_FAST_LOGIN:-}" = 1 ]; then
  cat >> "$W/push.conf" <<CONF
# DOVECOT_FAST_LOGIN=1: with push, every wake of a phone logs in afresh
service imap-login {
  service_count = 0
  process_min_avail = 2
}
service imap {
  process_min_avail = 4
}
CONF
fi
if [ "${DOVECOT_REUSE_IMAP:-}" = 1 ]; then
  cat >> "$W/push.conf" <<CONF
# DOVECOT_REUSE_IMAP=1: no process start per login (all users are nobody);
# a process left without a client exits after 15 s rather than a minute
service imap {
  service_count = 0
  idle_kill = 15 secs
}
CONF
fi
DOVECOT_EXTRA_CONF="$W/push.conf" exec "$HERE/start-dovecot.sh" start "$W" "${@:2}"
