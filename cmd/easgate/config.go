package main

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
)

// Config is the configuration of "easgate serve": one TOML file whose
// sections are the fields below, each key of which an environment variable
// EASGATE_<SECTION>_<KEY> may override (see loadConfig). The field
// comments give the defaults; docs/OPERATIONS.md is the operator's view.
type Config struct {
	Server  ServerConfig  `toml:"server"`
	Admin   AdminConfig   `toml:"admin"`
	Login   LoginConfig   `toml:"login"`
	Limits  LimitsConfig  `toml:"limits"`
	Decoder DecoderConfig `toml:"decoder"`
	Policy  PolicyConfig  `toml:"policy"`
	State   StateConfig   `toml:"state"`
	Store   StoreConfig   `toml:"store"`
	JMAP    JMAPConfig    `toml:"jmap"`
	IMAP    IMAPConfig    `toml:"imap"`
	DAV     DAVConfig     `toml:"dav"`
	Memory  MemoryConfig  `toml:"memory"`
	Graph   GraphConfig   `toml:"graph"`
	GAL     GALConfig     `toml:"gal"`
	SMIME   SMIMEConfig   `toml:"smime"`
	Classes ClassesConfig `toml:"classes"` // config_classes.go

	Autodiscover AutodiscoverConfig `toml:"autodiscover"` // config_autodiscover.go
}

// ServerConfig is the [server] section: the HTTP side and logging.
type ServerConfig struct {
	Listen      string   `toml:"listen"`        // default 127.0.0.1:8080
	Versions    []string `toml:"versions"`      // "14.1", ...; empty: every version easgate speaks
	MaxBodySize int64    `toml:"max_body_size"` // bytes; 0: gateway.DefaultMaxBodySize
	LogLevel    string   `toml:"log_level"`     // debug, info (default), warn, error
	LogFormat   string   `toml:"log_format"`    // text (default) or json
	MailDomain  string   `toml:"mail_domain"`   // completes bare login names into addresses
	ExternalURL string   `toml:"external_url"`  // https://host as phones reach it; "": no Autodiscover

	TLSCert string `toml:"tls_cert"` // PEM certificate chain file; with tls_key, serve HTTPS (reloaded on SIGHUP)
	TLSKey  string `toml:"tls_key"`  // PEM private key file

	HeaderTimeout      time.Duration `toml:"header_timeout"`        // request line and headers (and TLS handshake); default 30s
	IdleTimeout        time.Duration `toml:"idle_timeout"`          // an idle keep-alive connection; default 2m
	BodyTimeout        time.Duration `toml:"body_timeout"`          // any body may take this long; 0: gateway.ConnOptions default
	BodyMinRate        int64         `toml:"body_min_rate"`         // bytes/s a body must keep up past body_timeout; 0: default
	WriteTimeout       time.Duration `toml:"write_timeout"`         // an answer may be blocked on its client this long; 0: default
	WriteMinRate       int64         `toml:"write_min_rate"`        // bytes/s an answer must drain at past write_timeout; 0: default
	MaxConns           int           `toml:"max_conns"`             // open connections; 0: default
	MaxConnsPerAddress int           `toml:"max_conns_per_address"` // open connections from one address; 0: default
	TrustedProxies     []string      `toml:"trusted_proxies"`       // CIDRs whose X-Forwarded-For is believed

	// DecodeBudget bounds the bytes of bodies decoded at once, across
	// requests; 0: gateway.DefaultDecodeBudget.
	DecodeBudget int64 `toml:"decode_budget"`
}

// kindsInUse returns the store kinds that serve some content.
func (c *Config) kindsInUse() []string {
	kinds, _, _ := c.storeKinds()
	return kinds
}

// LoginConfig is the [login] section: failed-login throttling and the
// cache of successful logins, gateway.LoginOptions; zero takes the
// default.
type LoginConfig struct {
	Window         time.Duration `toml:"window"`
	PerUserAddress int           `toml:"per_user_address"`
	PerAddress     int           `toml:"per_address"`
	PerUser        int           `toml:"per_user"`
	MaxLockout     time.Duration `toml:"max_lockout"`
	CacheTTL       time.Duration `toml:"cache_ttl"`
	CacheSize      int           `toml:"cache_size"`
}

// AdminConfig is the [admin] section: the listener of /metrics,
// /debug/pprof/ and the admin endpoints (gateway.Server.Admin), apart from
// the EAS listener so that it can stay on loopback.
type AdminConfig struct {
	Listen string `toml:"listen"` // default 127.0.0.1:8081; "": no admin listener
	// Token opens the admin API (Authorization: Bearer) and console on
	// the admin listener; "" keeps both closed there. The unix socket in
	// state.dir needs none.
	Token       string `toml:"token"`
	UserConsole bool   `toml:"user_console"` // /devices on the EAS listener; default true
	// QuarantineNotice puts a notice in a user's Inbox when a device of
	// theirs is quarantined (gateway.Options.QuarantineNotice); default true.
	QuarantineNotice bool          `toml:"quarantine_notice"`
	SessionTimeout   time.Duration `toml:"session_timeout"` // console sessions end after this idle time; default 30m
	SecureCookies    bool          `toml:"secure_cookies"`  // always mark console cookies Secure (behind a TLS proxy)
}

// LimitsConfig is the [limits] section, gateway.Limits; zero takes its
// default.
type LimitsConfig struct {
	MinHeartbeat       time.Duration `toml:"min_heartbeat"`
	MaxHeartbeat       time.Duration `toml:"max_heartbeat"`
	MaxPingFolders     int           `toml:"max_ping_folders"`
	MaxWindowSize      int           `toml:"max_window_size"`
	MaxSyncCollections int           `toml:"max_sync_collections"`
	KeepAlive          time.Duration `toml:"keep_alive"`
	MaxAccounts        int           `toml:"max_accounts"` // entries of each per-account cache; default 10000
	AccountIdle        time.Duration `toml:"account_idle"` // default 2h
	MaxRequests        int           `toml:"max_requests"`
	MaxDeviceRequests  int           `toml:"max_device_requests"`
	RetryAfter         time.Duration `toml:"retry_after"`
	LoopRepeats        int           `toml:"loop_repeats"`
	LoopWindow         time.Duration `toml:"loop_window"`
	LoopDelay          time.Duration `toml:"loop_delay"`
}

// DecoderConfig is the [decoder] section, eas.DecoderOptions; zero takes
// its default.
type DecoderConfig struct {
	MaxDepth      int   `toml:"max_depth"`
	MaxStringSize int   `toml:"max_string_size"`
	MaxOpaqueSize int   `toml:"max_opaque_size"`
	MaxTokens     int   `toml:"max_tokens"`
	MaxSize       int64 `toml:"max_size"`

	MaxAllocPerByte int `toml:"max_alloc_per_byte"`
}

// PolicyConfig is the [policy] section: the provisioning mode and the
// settings of the policy (eas.EASProvisionDoc). A setting left out is not
// sent, so the device keeps its own choice.
type PolicyConfig struct {
	Mode string `toml:"mode"` // none (default), allow, force

	DevicePasswordEnabled  *bool          `toml:"device_password_enabled"`
	Alphanumeric           *bool          `toml:"alphanumeric"`
	MinPasswordLength      *int           `toml:"min_password_length"`    // 1 to 16
	MinComplexCharacters   *int           `toml:"min_complex_characters"` // 1 to 4
	AllowSimplePassword    *bool          `toml:"allow_simple_password"`
	PasswordExpirationDays *int           `toml:"password_expiration_days"`
	PasswordHistory        *int           `toml:"password_history"`
	PasswordRecovery       *bool          `toml:"password_recovery"`
	MaxInactivityLock      *time.Duration `toml:"max_inactivity_lock"` // whole seconds, 1s to 9999s
	MaxFailedAttempts      *int           `toml:"max_failed_attempts"` // 4 to 16
	RequireEncryption      *bool          `toml:"require_encryption"`
	RequireCardEncryption  *bool          `toml:"require_storage_card_encryption"`
	AllowStorageCard       *bool          `toml:"allow_storage_card"`
	AllowCamera            *bool          `toml:"allow_camera"`
	AttachmentsEnabled     *bool          `toml:"attachments_enabled"`
	MaxAttachmentSize      *int64         `toml:"max_attachment_size"` // bytes
	AllowHTMLEmail         *bool          `toml:"allow_html_email"`
}

// StateConfig is the [state] section: where device state lives. One node
// keeps it in a Badger directory (dir); several nodes share a PostgreSQL
// database (url), and dir, if set, then only holds the admin socket.
type StateConfig struct {
	Dir      string `toml:"dir"`       // required without url
	URL      string `toml:"url"`       // "postgres://user:pass@host:5432/db?sslmode=verify-full"
	MaxConns int    `toml:"max_conns"` // PostgreSQL connections of this node's pool; default 16
}

// StoreConfig is the [store] section: which store holds the mail.
type StoreConfig struct {
	Kind     string `toml:"kind"`      // required: memory, jmap, imapdav or graph
	MaxUsers int    `toml:"max_users"` // users whose store login is kept (jmap, imapdav, graph); default 1000
}

// JMAPConfig is the [jmap] section, for store kind jmap.
type JMAPConfig struct {
	SessionURL   string        `toml:"session_url"`   // required
	Auth         string        `toml:"auth"`          // passthrough (default) or bearer
	TokenFile    string        `toml:"token_file"`    // required with auth = "bearer"
	PollInterval time.Duration `toml:"poll_interval"` // without push; default 30s
	Delete       string        `toml:"delete"`        // trash (default) or destroy
	IdleIMAP     string        `toml:"idle_imap"`     // host:port of the store's IMAP, for IDLE; empty: EventSource only
	IdleTLS      string        `toml:"idle_tls"`      // tls (default), starttls or none
	ListChunk    int           `toml:"list_chunk"`    // ids a first listing fetches per Email/query; default 10000
	FetchConns   int           `toml:"fetch_conns"`   // Email/get requests one fetch sends at once; default 1
	// A first Sync's next window fetched while the current one is sent:
	// how many windows a user holds (0: off), the most one may hold, and
	// how long one is kept and its fetch may run.
	PrefetchWindows int           `toml:"prefetch_windows"` // default 2
	PrefetchBytes   int           `toml:"prefetch_bytes"`   // default 4 MiB
	PrefetchTTL     time.Duration `toml:"prefetch_ttl"`     // default 30s
	IdleConns       int           `toml:"idle_conns"`       // idle connections to the store kept for reuse; default 64
}

// IMAPConfig is the [imap] section, for store kind imapdav.
type IMAPConfig struct {
	Addr         string `toml:"addr"`           // required, host:port
	TLS          string `toml:"tls"`            // tls (default), starttls or none
	Submission   string `toml:"submission"`     // host:port; empty: sending is not offered
	Delete       string `toml:"delete"`         // trash (default) or expunge
	IdlePerUser  int    `toml:"idle_per_user"`  // IDLE connections per user; default 8
	ConnsPerUser int    `toml:"conns_per_user"` // other connections per user; default 4

	// ConnIdle logs out a command connection unused this long; default 1m.
	ConnIdle time.Duration `toml:"conn_idle"`
	// PageTrust is how long a listing's later pages are served without a
	// STATUS to show the folder unchanged; default 1s, 0s: a STATUS per
	// page.
	PageTrust time.Duration `toml:"page_trust"`
	// EventsToken, when set, turns on store-side push: Dovecot's
	// push_notification plugin (configs/dovecot/) posts mailbox events
	// to /dovecot/events on the admin listener with "Authorization:
	// Bearer <token>", and Pings wait for them instead of holding IDLE
	// connections. EventsCheck is how often each user with a waiting
	// Ping has its folders checked anyway, since Dovecot drops an event
	// it failed to post; default 5m. EventsCheckRate bounds the checks
	// started per second on this node (default 50), EventsCheckConns
	// those running at once (default 4).
	EventsToken      string        `toml:"events_token"`
	EventsCheck      time.Duration `toml:"events_check"`
	EventsCheckRate  float64       `toml:"events_check_rate"`
	EventsCheckConns int           `toml:"events_check_conns"`
}

// DAVConfig is the [dav] section, for store kind imapdav.
type DAVConfig struct {
	CalDAVURL          string        `toml:"caldav_url"`           // empty: no calendars or tasks
	CardDAVURL         string        `toml:"carddav_url"`          // empty: no contacts
	PollInterval       time.Duration `toml:"poll_interval"`        // a collection nothing happens in; default 60s
	PollIntervalActive time.Duration `toml:"poll_interval_active"` // after a change or a device's write; default 5s
	PollActiveFor      time.Duration `toml:"poll_active_for"`      // how long poll_interval_active holds; default 60s
	PollsPerMinute     int           `toml:"polls_per_minute"`     // checks per user, all devices together; default 20
}

// MemoryConfig is the [memory] section, for store kind memory: an empty
// in-memory store for trying serve without a mail server.
type MemoryConfig struct {
	Users map[string]string `toml:"users"` // name → password
}

// GALConfig is the [gal] section: the address book of GAL searches and
// ResolveRecipients, gateway.DirectoryOptions.
type GALConfig struct {
	Folder string `toml:"folder"` // id or name of a store folder; empty: each user's default contacts folder
}

// SMIMEConfig is the [smime] section: how ValidateCert judges S/MIME
// certificates, gateway.CertOptions.
type SMIMEConfig struct {
	Roots             string        `toml:"roots"`              // PEM file of CA certificates trusted besides the system's; empty: system roots only
	Revocation        string        `toml:"revocation"`         // off (default) or crl
	RevocationTimeout time.Duration `toml:"revocation_timeout"` // one CRL download; default 5s
}

// smimeRoots reads the [smime] roots file; nil without one.
func (c *Config) smimeRoots() ([]*x509.Certificate, error) {
	if c.SMIME.Roots == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.SMIME.Roots)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		crt, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, crt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM CERTIFICATE in %s", c.SMIME.Roots)
	}
	return out, nil
}

// defaultConfig returns the values a key takes when neither the file nor
// the environment sets it.
func defaultConfig() *Config {
	return &Config{
		Server: ServerConfig{Listen: "127.0.0.1:8080", LogLevel: "info", LogFormat: "text",
			HeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute},
		Admin:  AdminConfig{Listen: "127.0.0.1:8081", UserConsole: true, QuarantineNotice: true},
		Policy: PolicyConfig{Mode: "allow"},
		JMAP: JMAPConfig{Auth: "passthrough", PollInterval: 30 * time.Second, Delete: "trash", IdleTLS: "tls", ListChunk: 10000, FetchConns: 1, IdleConns: 64,
			PrefetchWindows: 2, PrefetchBytes: 4 << 20, PrefetchTTL: 30 * time.Second},
		IMAP:    IMAPConfig{TLS: "tls", Delete: "trash", IdlePerUser: 8, ConnsPerUser: 4, ConnIdle: time.Minute, PageTrust: time.Second, EventsCheck: 5 * time.Minute, EventsCheckRate: 50, EventsCheckConns: 4},
		DAV:     DAVConfig{PollInterval: 60 * time.Second, PollIntervalActive: 5 * time.Second, PollActiveFor: time.Minute, PollsPerMinute: 20},
		SMIME:   SMIMEConfig{Revocation: "off", RevocationTimeout: 5 * time.Second},
		Graph:   defaultGraphConfig(),
		Classes: defaultClassesConfig(),
	}
}

// envPrefix starts the environment variables that override config keys.
const envPrefix = "EASGATE_"

// loadConfig reads the file at path (none when path is "") over the
// defaults, applies the overrides in env (KEY=VALUE strings, as from
// os.Environ) and validates the result.
//
// EASGATE_<SECTION>_<KEY> sets key KEY of [section], both upper-cased: the
// section name has no underscore, so the first one after the prefix ends
// it. A string or duration value is taken as is; any other value is
// written as in TOML (true, 42, ["14.1", "16.1"], {alice = "pw"}). The
// variable replaces the key's value, a list or table as a whole. A
// variable that names a section but no key of it is an error; other
// EASGATE_ variables are not ours and are ignored.
func loadConfig(path string, env []string) (*Config, error) {
	c := defaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, c)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			keys := make([]string, len(u))
			for i, k := range u {
				keys[i] = k.String()
			}
			return nil, fmt.Errorf("config: %s: unknown key %s", path, strings.Join(keys, ", "))
		}
	}
	if err := c.applyEnv(env); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// applyEnv applies the EASGATE_<SECTION>_<KEY> variables of env, in
// order, by decoding each as a one-key TOML document over c.
func (c *Config) applyEnv(env []string) error {
	sections := reflect.ValueOf(c).Elem()
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(name, envPrefix)
		if !ok {
			continue
		}
		sec, key, _ := strings.Cut(strings.ToLower(rest), "_")
		sv, ok := tomlField(sections, sec)
		if !ok {
			continue
		}
		fv, ok := tomlField(sv, key)
		if !ok || key == "" {
			return fmt.Errorf("config: %s: [%s] has no key %q", name, sec, key)
		}
		var doc bytes.Buffer
		fmt.Fprintf(&doc, "[%s]\n", sec)
		if fv.Kind() == reflect.String || fv.Type() == reflect.TypeFor[time.Duration]() ||
			fv.Type() == reflect.TypeFor[*time.Duration]() {
			// Let the encoder quote the string.
			if err := toml.NewEncoder(&doc).Encode(map[string]string{key: value}); err != nil {
				return fmt.Errorf("config: %s: %w", name, err)
			}
		} else {
			fmt.Fprintf(&doc, "%s = %s\n", key, value)
		}
		fv.SetZero() // replace lists and tables rather than merge into them
		md, err := toml.Decode(doc.String(), c)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				err = errors.New(pe.Message)
			}
			return fmt.Errorf("config: %s: %w", name, err)
		}
		for _, k := range md.Keys()[1:] { // past the section: the key, or keys inside its value
			if len(k) < 2 || k[1] != key {
				return fmt.Errorf("config: %s: %q is not one TOML value", name, value)
			}
		}
	}
	return nil
}

// tomlField returns the field of struct v whose toml tag is name.
func tomlField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// configErrors collects validation problems as "config: section.key: msg".
type configErrors []error

func (e *configErrors) add(key, format string, args ...any) {
	*e = append(*e, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// oneOf checks that v is one of the allowed values.
func (e *configErrors) oneOf(key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		e.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// validate checks every key, including those of store kinds not in use,
// so that a mistake shows before the day someone switches to that kind;
// keys a kind needs are required only for that kind. It reports every
// problem at once, one per line.
func (c *Config) validate() error {
	var e configErrors
	switch c.Store.Kind {
	case "":
		e.add("store.kind", "not set: serve needs a store (memory, jmap, imapdav or graph); see configs/ for examples, or run easgate demo to try a made-up mailbox")
	case "memory", "jmap", "imapdav", "graph":
	default:
		e.add("store.kind", "%q is not one of memory, jmap, imapdav, graph", c.Store.Kind)
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		e.add("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if a := c.Admin.Listen; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			e.add("admin.listen", "%q is not host:port", a)
		} else if a == c.Server.Listen && !strings.HasSuffix(a, ":0") {
			e.add("admin.listen", "%q is server.listen too: metrics and profiles must not be on the EAS port", a)
		}
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		e.add("admin.token", "too short (%d characters): use at least 16 random ones, e.g. from openssl rand -hex 16", len(c.Admin.Token))
	}
	if c.Admin.SessionTimeout < 0 {
		e.add("admin.session_timeout", "%v is negative", c.Admin.SessionTimeout)
	}
	if _, err := c.versions(); err != nil {
		e.add("server.versions", "%v", err)
	}
	if c.Server.MaxBodySize < 0 {
		e.add("server.max_body_size", "%d is negative", c.Server.MaxBodySize)
	}
	if b := c.Server.DecodeBudget; b < 0 {
		e.add("server.decode_budget", "%d is negative", b)
	} else if body := cmp.Or(c.Server.MaxBodySize, gateway.DefaultMaxBodySize); b != 0 && b < body {
		e.add("server.decode_budget", "%d is less than max_body_size (%d): such a body could never be decoded", b, body)
	}
	e.oneOf("server.log_level", c.Server.LogLevel, "debug", "info", "warn", "error")
	e.oneOf("server.log_format", c.Server.LogFormat, "text", "json")
	if strings.ContainsAny(c.Server.MailDomain, "@ ") {
		e.add("server.mail_domain", "%q is not a domain", c.Server.MailDomain)
	}
	if _, err := c.smimeRoots(); err != nil {
		e.add("smime.roots", "%v", err)
	}
	e.oneOf("smime.revocation", c.SMIME.Revocation, "off", "crl")
	if c.SMIME.RevocationTimeout <= 0 {
		e.add("smime.revocation_timeout", "%v is not positive", c.SMIME.RevocationTimeout)
	}
	c.validateFrontDoor(&e)

	l := c.Limits
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"limits.min_heartbeat", l.MinHeartbeat}, {"limits.max_heartbeat", l.MaxHeartbeat}, {"limits.keep_alive", l.KeepAlive},
		{"limits.account_idle", l.AccountIdle},
		{"limits.retry_after", l.RetryAfter}, {"limits.loop_window", l.LoopWindow}, {"limits.loop_delay", l.LoopDelay}} {
		if d.v < 0 {
			e.add(d.key, "%v is negative", d.v)
		}
	}
	if l.MinHeartbeat > 0 && l.MaxHeartbeat > 0 && l.MinHeartbeat > l.MaxHeartbeat {
		e.add("limits.min_heartbeat", "%v is more than limits.max_heartbeat %v", l.MinHeartbeat, l.MaxHeartbeat)
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"limits.max_ping_folders", int64(l.MaxPingFolders)},
		{"limits.max_window_size", int64(l.MaxWindowSize)},
		{"limits.max_sync_collections", int64(l.MaxSyncCollections)},
		{"limits.max_accounts", int64(l.MaxAccounts)},
		{"store.max_users", int64(c.Store.MaxUsers)},
		{"limits.max_requests", int64(l.MaxRequests)},
		{"limits.max_device_requests", int64(l.MaxDeviceRequests)},
		{"limits.loop_repeats", int64(l.LoopRepeats)},
		{"decoder.max_depth", int64(c.Decoder.MaxDepth)},
		{"decoder.max_string_size", int64(c.Decoder.MaxStringSize)},
		{"decoder.max_opaque_size", int64(c.Decoder.MaxOpaqueSize)},
		{"decoder.max_tokens", int64(c.Decoder.MaxTokens)},
		{"decoder.max_size", c.Decoder.MaxSize},
		{"decoder.max_alloc_per_byte", int64(c.Decoder.MaxAllocPerByte)},
	} {
		if n.v < 0 {
			e.add(n.key, "%d is negative", n.v)
		}
	}
	if l.MaxWindowSize > 512 {
		e.add("limits.max_window_size", "%d is more than 512, the most MS-ASCMD allows", l.MaxWindowSize)
	}

	c.validatePolicy(&e)
	c.validateAutodiscover(&e)
	c.validateClasses(&e)

	switch {
	case c.State.Dir == "" && c.State.URL == "":
		e.add("state.dir", "not set (or state.url for a shared PostgreSQL)")
	case c.State.Dir != "":
		if fi, err := os.Stat(c.State.Dir); err == nil && !fi.IsDir() {
			e.add("state.dir", "%s is not a directory", c.State.Dir)
		}
	}
	if u := c.State.URL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		// Not the URL itself: it may hold a password.
		e.add("state.url", "want postgres://...")
	}
	if c.State.MaxConns < 0 {
		e.add("state.max_conns", "%d is negative", c.State.MaxConns)
	}

	kind := c.Store.Kind

	j := c.JMAP
	if j.SessionURL != "" || kind == "jmap" {
		checkURL(&e, "jmap.session_url", j.SessionURL)
	}
	e.oneOf("jmap.auth", j.Auth, "passthrough", "bearer")
	if j.Auth == "bearer" {
		if j.TokenFile == "" {
			e.add("jmap.token_file", "not set, and jmap.auth is bearer")
		} else if b, err := os.ReadFile(j.TokenFile); err != nil {
			e.add("jmap.token_file", "%v", err)
		} else if len(bytes.TrimSpace(b)) == 0 {
			e.add("jmap.token_file", "%s is empty", j.TokenFile)
		}
	}
	if j.PollInterval <= 0 {
		e.add("jmap.poll_interval", "%v is not positive", j.PollInterval)
	}
	e.oneOf("jmap.delete", j.Delete, "trash", "destroy")
	if j.ListChunk < 1 || j.ListChunk > 1000000 {
		e.add("jmap.list_chunk", "%d is not between 1 and 1000000", j.ListChunk)
	}
	if j.FetchConns < 1 || j.FetchConns > 16 {
		e.add("jmap.fetch_conns", "%d is not between 1 and 16", j.FetchConns)
	}
	if j.PrefetchWindows < 0 || j.PrefetchWindows > 64 {
		e.add("jmap.prefetch_windows", "%d is not between 0 and 64", j.PrefetchWindows)
	}
	if j.PrefetchBytes < 64<<10 || j.PrefetchBytes > 256<<20 {
		e.add("jmap.prefetch_bytes", "%d is not between 65536 and 268435456", j.PrefetchBytes)
	}
	if j.PrefetchTTL < time.Second || j.PrefetchTTL > 10*time.Minute {
		e.add("jmap.prefetch_ttl", "%v is not between 1s and 10m", j.PrefetchTTL)
	}
	if j.IdleConns < 1 || j.IdleConns > 10000 {
		e.add("jmap.idle_conns", "%d is not between 1 and 10000", j.IdleConns)
	}
	if j.IdleIMAP != "" {
		checkAddr(&e, "jmap.idle_imap", j.IdleIMAP)
	}
	e.oneOf("jmap.idle_tls", j.IdleTLS, "tls", "starttls", "none")

	m := c.IMAP
	if m.Addr != "" || kind == "imapdav" {
		checkAddr(&e, "imap.addr", m.Addr)
	}
	e.oneOf("imap.tls", m.TLS, "tls", "starttls", "none")
	if m.Submission != "" {
		checkAddr(&e, "imap.submission", m.Submission)
	}
	e.oneOf("imap.delete", m.Delete, "trash", "expunge")
	if m.IdlePerUser < 1 {
		e.add("imap.idle_per_user", "%d is less than 1", m.IdlePerUser)
	}
	if m.ConnsPerUser < 1 {
		e.add("imap.conns_per_user", "%d is less than 1", m.ConnsPerUser)
	}
	if m.ConnIdle <= 0 {
		e.add("imap.conn_idle", "%v is not positive", m.ConnIdle)
	}
	if m.PageTrust < 0 {
		e.add("imap.page_trust", "%v is negative", m.PageTrust)
	}
	if m.EventsCheck <= 0 {
		e.add("imap.events_check", "%v is not positive", m.EventsCheck)
	}
	if !(m.EventsCheckRate > 0) {
		e.add("imap.events_check_rate", "%v is not positive", m.EventsCheckRate)
	}
	if m.EventsCheckConns < 1 {
		e.add("imap.events_check_conns", "%d is less than 1", m.EventsCheckConns)
	}
	if m.EventsToken != "" {
		switch {
		case len(m.EventsToken) < 16:
			e.add("imap.events_token", "too short (%d characters): use at least 16 random ones, e.g. from openssl rand -hex 16", len(m.EventsToken))
		case c.Admin.Listen == "":
			e.add("imap.events_token", "set, but admin.listen is empty: the events endpoint is on the admin listener")
		case !slices.Contains(c.kindsInUse(), "imapdav"):
			e.add("imap.events_token", "set, but no content comes from store kind imapdav")
		}
	}

	d := c.DAV
	if d.CalDAVURL != "" {
		checkURL(&e, "dav.caldav_url", d.CalDAVURL)
	}
	if d.CardDAVURL != "" {
		checkURL(&e, "dav.carddav_url", d.CardDAVURL)
	}
	if d.PollInterval <= 0 {
		e.add("dav.poll_interval", "%v is not positive", d.PollInterval)
	}
	if d.PollIntervalActive <= 0 || d.PollIntervalActive > d.PollInterval {
		e.add("dav.poll_interval_active", "%v is not between 0 and dav.poll_interval", d.PollIntervalActive)
	}
	if d.PollActiveFor <= 0 {
		e.add("dav.poll_active_for", "%v is not positive", d.PollActiveFor)
	}
	if d.PollsPerMinute < 1 {
		e.add("dav.polls_per_minute", "%d is less than 1", d.PollsPerMinute)
	}

	c.validateGraph(&e)

	if kind == "memory" && len(c.Memory.Users) == 0 {
		e.add("memory.users", "no users, and store.kind is memory")
	}
	for name, pw := range c.Memory.Users {
		if name == "" || pw == "" {
			e.add("memory.users", "user %q: empty name or password", name)
		}
	}
	return errors.Join(e...)
}

// validateFrontDoor checks the connection, TLS and [login] keys.
func (c *Config) validateFrontDoor(e *configErrors) {
	sv := c.Server
	switch {
	case (sv.TLSCert == "") != (sv.TLSKey == ""):
		e.add("server.tls_cert", "tls_cert and tls_key go together; only one is set")
	case sv.TLSCert != "":
		if _, err := tls.LoadX509KeyPair(sv.TLSCert, sv.TLSKey); err != nil {
			e.add("server.tls_cert", "%v", err)
		}
	}
	if sv.HeaderTimeout <= 0 {
		e.add("server.header_timeout", "%v is not positive", sv.HeaderTimeout)
	}
	if sv.IdleTimeout <= 0 {
		e.add("server.idle_timeout", "%v is not positive", sv.IdleTimeout)
	}
	if _, err := c.trustedProxies(); err != nil {
		e.add("server.trusted_proxies", "%v", err)
	}
	l := c.Login
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"server.body_timeout", sv.BodyTimeout}, {"server.write_timeout", sv.WriteTimeout}, {"login.window", l.Window}, {"login.max_lockout", l.MaxLockout}, {"login.cache_ttl", l.CacheTTL}} {
		if d.v < 0 {
			e.add(d.key, "%v is negative", d.v)
		}
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"server.body_min_rate", sv.BodyMinRate},
		{"server.write_min_rate", sv.WriteMinRate},
		{"server.max_conns", int64(sv.MaxConns)},
		{"server.max_conns_per_address", int64(sv.MaxConnsPerAddress)},
		{"login.per_user_address", int64(l.PerUserAddress)},
		{"login.per_address", int64(l.PerAddress)},
		{"login.per_user", int64(l.PerUser)},
		{"login.cache_size", int64(l.CacheSize)},
	} {
		if n.v < 0 {
			e.add(n.key, "%d is negative", n.v)
		}
	}
	if sv.MaxConns > 0 && sv.MaxConnsPerAddress > sv.MaxConns {
		e.add("server.max_conns_per_address", "%d is more than server.max_conns %d", sv.MaxConnsPerAddress, sv.MaxConns)
	}
}

// trustedProxies returns server.trusted_proxies parsed; a bare address is
// a prefix of one address.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range c.Server.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// validatePolicy checks [policy] against the ranges of MS-ASPROV 2.2.2.
func (c *Config) validatePolicy(e *configErrors) {
	p := c.Policy
	if _, err := gateway.ParsePolicyMode(p.Mode); err != nil {
		e.add("policy.mode", "%q is not one of none, allow, force", p.Mode)
	} else if p.Mode == "none" && c.policyDoc() != nil {
		// Settings that are never sent would be a silent hole.
		e.add("policy.mode", `"none" sends no policy, but policy settings are given`)
	}
	for _, r := range []struct {
		key      string
		v        *int
		min, max int
	}{
		{"policy.min_password_length", p.MinPasswordLength, 1, 16},
		{"policy.min_complex_characters", p.MinComplexCharacters, 1, 4},
		{"policy.max_failed_attempts", p.MaxFailedAttempts, 4, 16},
	} {
		if r.v != nil && (*r.v < r.min || *r.v > r.max) {
			e.add(r.key, "%d is not between %d and %d", *r.v, r.min, r.max)
		}
	}
	for _, n := range []struct {
		key string
		v   *int
	}{{"policy.password_expiration_days", p.PasswordExpirationDays}, {"policy.password_history", p.PasswordHistory}} {
		if n.v != nil && *n.v < 0 {
			e.add(n.key, "%d is negative", *n.v)
		}
	}
	if d := p.MaxInactivityLock; d != nil && (*d < time.Second || *d > 9999*time.Second || *d%time.Second != 0) {
		e.add("policy.max_inactivity_lock", "%v is not whole seconds between 1s and 9999s", *d)
	}
	if p.MaxAttachmentSize != nil && *p.MaxAttachmentSize < 0 {
		e.add("policy.max_attachment_size", "%d is negative", *p.MaxAttachmentSize)
	}
}

// checkURL requires an absolute http or https URL.
func checkURL(e *configErrors, key, s string) {
	if s == "" {
		e.add(key, "not set")
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.add(key, "%q is not a URL (want http:// or https://)", s)
	}
}

// checkAddr requires host:port.
func checkAddr(e *configErrors, key, s string) {
	if s == "" {
		e.add(key, "not set")
		return
	}
	if host, port, err := net.SplitHostPort(s); err != nil || host == "" || port == "" {
		e.add(key, "%q is not host:port", s)
	}
}

// versions returns server.versions parsed; nil means every version.
func (c *Config) versions() ([]eas.ProtocolVersion, error) {
	var vs []eas.ProtocolVersion
	for _, s := range c.Server.Versions {
		v, err := eas.ParseVersion(s)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if vs == nil && c.Server.Versions != nil {
		return nil, errors.New("empty list: leave the key out to serve every version")
	}
	return vs, nil
}

// logger returns the logger [server] asks for, writing to w.
func (c *Config) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Server.LogLevel)) // validated
	o := &slog.HandlerOptions{Level: level}
	if c.Server.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// policyDoc maps the [policy] settings onto the 12.0-and-later policy
// document; nil when none is set.
func (c *Config) policyDoc() *eas.EASProvisionDoc {
	p := c.Policy
	num := func(v *int) *eas.IntOrEmpty {
		if v == nil {
			return nil
		}
		return eas.PolicyInt(int64(*v))
	}
	d := &eas.EASProvisionDoc{
		DevicePasswordEnabled:              p.DevicePasswordEnabled,
		AlphanumericDevicePasswordRequired: p.Alphanumeric,
		PasswordRecoveryEnabled:            p.PasswordRecovery,
		RequireStorageCardEncryption:       p.RequireCardEncryption,
		AttachmentsEnabled:                 p.AttachmentsEnabled,
		MinDevicePasswordLength:            num(p.MinPasswordLength),
		MaxDevicePasswordFailedAttempts:    num(p.MaxFailedAttempts),
		AllowSimpleDevicePassword:          p.AllowSimplePassword,
		DevicePasswordExpiration:           num(p.PasswordExpirationDays),
		DevicePasswordHistory:              num(p.PasswordHistory),
		AllowStorageCard:                   p.AllowStorageCard,
		AllowCamera:                        p.AllowCamera,
		RequireDeviceEncryption:            p.RequireEncryption,
		MinDevicePasswordComplexCharacters: num(p.MinComplexCharacters),
		AllowHTMLEmail:                     p.AllowHTMLEmail,
	}
	if p.MaxInactivityLock != nil {
		d.MaxInactivityTimeDeviceLock = eas.PolicyInt(int64(*p.MaxInactivityLock / time.Second))
	}
	if p.MaxAttachmentSize != nil {
		d.MaxAttachmentSize = eas.PolicyInt(*p.MaxAttachmentSize)
	}
	if reflect.ValueOf(*d).IsZero() {
		return nil
	}
	return d
}

// gatewayOptions returns the gateway.Options that c describes, without
// Backend and State, which serve opens.
func (c *Config) gatewayOptions(log *slog.Logger) *gateway.Options {
	mode, _ := gateway.ParsePolicyMode(c.Policy.Mode) // validated
	vs, _ := c.versions()                             // validated
	roots, _ := c.smimeRoots()                        // validated
	proxies, _ := c.trustedProxies()                  // validated
	o := &gateway.Options{
		Logger:      log,
		Versions:    vs,
		MaxBodySize: c.Server.MaxBodySize,
		Policy:      gateway.Policy{Mode: mode, Doc: c.policyDoc()},
		MailDomain:  c.Server.MailDomain,
		Directory:   gateway.DirectoryOptions{Folder: c.GAL.Folder},

		QuarantineNotice: c.Admin.QuarantineNotice,
		Conns: gateway.ConnOptions{
			MaxConns:           c.Server.MaxConns,
			MaxConnsPerAddress: c.Server.MaxConnsPerAddress,
			BodyTimeout:        c.Server.BodyTimeout,
			BodyMinRate:        c.Server.BodyMinRate,
			WriteTimeout:       c.Server.WriteTimeout,
			WriteMinRate:       c.Server.WriteMinRate,
		},
		Login: gateway.LoginOptions{
			Throttle: gateway.ThrottleOptions{
				Window:         c.Login.Window,
				PerUserAddress: c.Login.PerUserAddress,
				PerAddress:     c.Login.PerAddress,
				PerUser:        c.Login.PerUser,
				MaxLockout:     c.Login.MaxLockout,
			},
			CacheTTL:       c.Login.CacheTTL,
			CacheSize:      c.Login.CacheSize,
			TrustedProxies: proxies,
		},
		Certificates: gateway.CertOptions{
			Roots: roots,
		},
		Limits: gateway.Limits{
			MinHeartbeat:       c.Limits.MinHeartbeat,
			MaxHeartbeat:       c.Limits.MaxHeartbeat,
			MaxPingFolders:     c.Limits.MaxPingFolders,
			MaxWindowSize:      c.Limits.MaxWindowSize,
			MaxSyncCollections: c.Limits.MaxSyncCollections,
			KeepAlive:          c.Limits.KeepAlive,
			MaxAccounts:        c.Limits.MaxAccounts,
			AccountIdle:        c.Limits.AccountIdle,
			MaxRequests:        c.Limits.MaxRequests,
			MaxDeviceRequests:  c.Limits.MaxDeviceRequests,
			RetryAfter:         c.Limits.RetryAfter,
			LoopRepeats:        c.Limits.LoopRepeats,
			LoopWindow:         c.Limits.LoopWindow,
			LoopDelay:          c.Limits.LoopDelay,
		},
	}
	if c.SMIME.Revocation == "crl" {
		o.Certificates.Revocation = &gateway.RevocationOptions{Timeout: c.SMIME.RevocationTimeout}
	}
	if dec := eas.DecoderOptions(c.Decoder); dec != (eas.DecoderOptions{}) {
		o.Decoder = &dec
	}
	o.DecodeBudget = c.Server.DecodeBudget
	o.ExternalURL, o.Autodiscover = c.Server.ExternalURL, c.autodiscoverOptions()
	return o
}
