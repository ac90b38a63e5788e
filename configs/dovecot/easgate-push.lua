-- easgate store-side push: Dovecot 2.3's push_notification Lua driver posts
-- each mailbox transaction to easgate's events endpoint, so that waiting
-- phones wake without an IMAP IDLE connection (and a Dovecot imap process)
-- per user. Install it readable by the mail user (mode 644) and load it with
-- 95-easgate-push.conf; docs/OPERATIONS.md ("Store-side push") explains both.
--
-- One POST per transaction, without a body: the user and the distinct
-- mailbox names of its events (mailbox, and mailbox_old of a rename) are
-- in the query,
--   POST <push_lua_url>?user=alice&mailbox=INBOX&mailbox=Archive
-- or "all=1" in place of the names when there are more than 64 of them or
-- they would make the URL longer than 8 KB. Dovecot's Lua binding sends a
-- body only after the server's "100 Continue": a second round trip within
-- the timeout, which under load made POSTs fail (and easgate log "bad POST:
-- unexpected EOF" for those Dovecot gave up on before sending the body).
-- There is no MODSEQ: an event is a hint, and easgate compares states.
--
-- plugin settings (plugin { } block):
--   push_lua_url            required: http://<easgate admin listener>/dovecot/events
--   push_lua_auth           "Bearer <imap.events_token>", sent as Authorization
--   push_lua_timeout_msecs  default 200: the whole request. The call is
--                           synchronous: the IMAP command or LMTP delivery
--                           waits for it, so keep it short. A failed POST is
--                           dropped (easgate's periodic check catches it).

-- percent-encodes s for a query (RFC 3986: only unreserved characters stay)
local function esc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- most mailbox names one POST names, and the longest query it builds;
-- past either it asks easgate to wake all of the user's folders
local MAX_MAILBOXES = 64
local MAX_QUERY = 8192

-- read once per process: an imap process serves one user, an lmtp
-- process several in turn, all with the same global settings
local url, auth, tmo

-- A new HTTP client per POST: a long-lived client remembers a failed
-- connect, and while easgate is down every later command of the session
-- would then wait the whole timeout (measured 502 ms instead of 1 ms).
local function client(user)
  if url == nil then
    url = user:plugin_getenv("push_lua_url")
    auth = user:plugin_getenv("push_lua_auth")
    tmo = tonumber(user:plugin_getenv("push_lua_timeout_msecs") or "") or 200
  end
  return dovecot.http.client({
    request_timeout_msecs = tmo,
    request_absolute_timeout_msecs = tmo,
    connect_timeout_msecs = tmo,
    max_attempts = 1,
    max_connect_attempts = 1,
    no_auto_retry = true,
    user_agent = "easgate-push-lua",
  })
end

function script_init()
  return 0
end

function dovecot_lua_notify_begin_txn(user)
  return { user = user, events = 0, seen = {}, names = {}, len = 0, all = false }
end

-- notes mailbox name m of an event, once per transaction
local function note(ctx, m)
  if m == nil or m == "" or ctx.all or ctx.seen[m] then return end
  local q = "&mailbox=" .. esc(m)
  if #ctx.names == MAX_MAILBOXES or ctx.len + #q > MAX_QUERY then
    ctx.all = true
    return
  end
  ctx.seen[m] = true
  ctx.names[#ctx.names + 1] = q
  ctx.len = ctx.len + #q
end

local function add(ctx, e, old)
  ctx.events = ctx.events + 1
  note(ctx, e.mailbox)
  note(ctx, old)
end

function dovecot_lua_notify_event_message_new(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_message_append(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_message_expunge(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_message_read(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_message_trash(ctx, e) add(ctx, e) end
-- Dovecot reports a STORE as FlagsSet and FlagsClear, one of them empty
function dovecot_lua_notify_event_flags_set(ctx, e)
  if #e.flags + #e.keywords > 0 then add(ctx, e) end
end
function dovecot_lua_notify_event_flags_clear(ctx, e)
  if #e.flags + #e.keywords > 0 then add(ctx, e) end
end
function dovecot_lua_notify_event_mailbox_create(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_mailbox_delete(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_mailbox_rename(ctx, e)
  add(ctx, e, e.mailbox_old)
end
function dovecot_lua_notify_event_mailbox_subscribe(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_mailbox_unsubscribe(ctx, e) add(ctx, e) end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or ctx.events == 0 then return end
  local c = client(ctx.user)
  if url == nil then
    dovecot.i_error("easgate-push: plugin setting push_lua_url is not set")
    return
  end
  local q = "user=" .. esc(ctx.user.username)
  if ctx.all then
    q = q .. "&all=1"
  else
    q = q .. table.concat(ctx.names)
  end
  local sep = "?"
  if url:find("?", 1, true) then sep = "&" end
  local req = c:request({ url = url .. sep .. q, method = "POST" })
  if auth ~= nil then req:add_header("Authorization", auth) end
  local resp = req:submit()          -- blocks until the answer or the timeout
  local st = resp:status()
  if st < 200 or st >= 300 then
    dovecot.i_warning("easgate-push: POST " .. url .. " failed: " .. st .. " " ..
                      tostring(resp:reason()) .. " (" .. ctx.events ..
                      " events of " .. ctx.user.username .. " dropped)")
  end
end
