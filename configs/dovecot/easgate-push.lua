-- easgate store-side push: Dovecot 2.3's push_notification Lua driver posts
-- each mailbox transaction to easgate's events endpoint, so that waiting
-- phones wake without an IMAP IDLE connection (and a Dovecot imap process)
-- per user. Install it readable by the mail user (mode 644) and load it with
-- 95-easgate-push.conf; docs/OPERATIONS.md ("Store-side push") explains both.
--
-- Body, one POST per transaction:
--   {"user":"alice","service":"imap","events":[{"event":"MessageAppend","mailbox":"INBOX","uid":3,"uidvalidity":1796585091}]}
-- easgate reads the user and the mailbox names (mailbox, mailbox_old);
-- there is no MODSEQ: an event is a hint, and easgate compares states.
--
-- plugin settings (plugin { } block):
--   push_lua_url            required: http://<easgate admin listener>/dovecot/events
--   push_lua_auth           "Bearer <imap.events_token>", sent as Authorization
--   push_lua_timeout_msecs  default 200: the whole request. The call is
--                           synchronous: the IMAP command or LMTP delivery
--                           waits for it, so keep it short. A failed POST is
--                           dropped (easgate's periodic check catches it).

local function json_str(s)
  s = tostring(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end)
  return '"' .. s .. '"'
end

local function json(v)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      local out = {}
      for i = 1, #v do out[i] = json(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local out = {}
    for k, x in pairs(v) do out[#out + 1] = json_str(k) .. ":" .. json(x) end
    return "{" .. table.concat(out, ",") .. "}"
  elseif t == "number" then
    return string.format("%d", v)
  elseif t == "boolean" then
    return tostring(v)
  elseif v == nil then
    return "null"
  end
  return json_str(v)
end

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
  return { user = user, events = {} }
end

local function add(ctx, e, extra)
  local ev = { event = e.name, mailbox = e.mailbox }
  if e.uid ~= nil then
    ev.uid = e.uid
    ev.uidvalidity = e.uid_validity
  end
  if extra then for k, v in pairs(extra) do ev[k] = v end end
  table.insert(ctx.events, ev)
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
  add(ctx, e, { mailbox_old = e.mailbox_old })
end
function dovecot_lua_notify_event_mailbox_subscribe(ctx, e) add(ctx, e) end
function dovecot_lua_notify_event_mailbox_unsubscribe(ctx, e) add(ctx, e) end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or #ctx.events == 0 then return end
  local c = client(ctx.user)
  if url == nil then
    dovecot.i_error("easgate-push: plugin setting push_lua_url is not set")
    return
  end
  local req = c:request({ url = url, method = "POST" })
  req:add_header("Content-Type", "application/json")
  if auth ~= nil then req:add_header("Authorization", auth) end
  req:set_payload(json({ user = ctx.user.username, service = ctx.user.service, events = ctx.events }))
  local resp = req:submit()          -- blocks until the answer or the timeout
  local st = resp:status()
  if st < 200 or st >= 300 then
    dovecot.i_warning("easgate-push: POST " .. url .. " failed: " .. st .. " " ..
                      tostring(resp:reason()) .. " (" .. #ctx.events ..
                      " events of " .. ctx.user.username .. " dropped)")
  end
end
