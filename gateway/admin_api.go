package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// AdminPrefix is the path under which the admin API is served. The
// version is in the path so that a later incompatible API can live beside
// this one.
const AdminPrefix = "/admin/v1/"

// AdminOptions configure the admin API (AdminAPI) and console
// (AdminConsole).
type AdminOptions struct {
	// Token is the administrator's secret: API requests carry it as
	// "Authorization: Bearer TOKEN", the console asks for it at login. ""
	// refuses every request unless Trusted.
	Token string
	// Trusted serves without any authentication: for the unix socket in
	// the state directory, which only easgate's own user can open.
	Trusted bool
}

// maxAdminBody bounds the JSON body of an admin request.
const maxAdminBody = 64 << 10

// AdminAPI returns the admin API's handler, to be served at AdminPrefix on
// the admin listener or the unix socket. Every action takes effect at the
// device's next request, and ends its waiting Ping so that the next request
// comes at once. Responses are JSON; errors are {"error": "..."} with a 4xx
// or 5xx status.
func (s *Server) AdminAPI(o AdminOptions) http.Handler {
	m := http.NewServeMux()
	p := AdminPrefix
	m.HandleFunc("GET "+p+"devices", s.apiListDevices)
	m.HandleFunc("GET "+p+"devices/{id}", s.apiShowDevice)
	m.HandleFunc("DELETE "+p+"devices/{id}", s.apiRemoveDevice)
	m.HandleFunc("POST "+p+"devices/{id}/{action}", s.apiDeviceAction)
	m.HandleFunc("GET "+p+"devices/{id}/trace", s.apiGetTrace)
	m.HandleFunc("GET "+p+"rules", s.apiListRules)
	m.HandleFunc("POST "+p+"rules", s.apiSetRule)
	m.HandleFunc("DELETE "+p+"rules", s.apiDeleteRule)
	m.HandleFunc("POST "+p+"users/{user}/password", s.apiIssuePassword)
	m.HandleFunc("DELETE "+p+"users/{user}/password", s.apiRevokePassword)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.Trusted && !validToken(o.Token, bearer(r)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="easgate admin"`)
			apiError(w, http.StatusUnauthorized, errors.New("admin API: a valid admin token is required (Authorization: Bearer …)"))
			return
		}
		if s.state == nil {
			apiError(w, http.StatusServiceUnavailable, errors.New("admin API: no state store configured"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		m.ServeHTTP(w, r)
	})
}

// validToken compares in constant time; an empty configured token matches
// nothing.
func validToken(want, got string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// apiError writes {"error": err}. The messages are written for the
// operator: they name what was wrong and what to do.
func apiError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// errorCode maps an action's error to an HTTP status.
func errorCode(err error) int {
	var ae *actionError
	switch {
	case errors.As(err, &ae):
		return ae.code
	case errors.Is(err, statecache.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, statecache.ErrWipeAcknowledged), errors.Is(err, statecache.ErrBadRule):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// actionError is an action refused for a reason the operator can fix.
type actionError struct {
	code int
	msg  string
}

func (e *actionError) Error() string { return e.msg }

func refuse(code int, format string, a ...any) error {
	return &actionError{code: code, msg: fmt.Sprintf(format, a...)}
}

// DeviceJSON is a device as the admin API shows it.
type DeviceJSON struct {
	ID        string        `json:"id"`
	Type      string        `json:"type"`
	UserAgent string        `json:"user_agent,omitempty"`
	Protocol  string        `json:"protocol,omitempty"`
	Info      *DeviceInfo   `json:"info,omitempty"`
	FirstSeen time.Time     `json:"first_seen"`
	LastSeen  time.Time     `json:"last_seen"`
	Access    *RuleJSON     `json:"access,omitempty"` // the rule deciding its access; none: allowed
	Users     []AccountJSON `json:"users"`
	Recent    []RequestJSON `json:"recent_requests,omitempty"` // newest first
	Trace     *TraceStatus  `json:"trace,omitempty"`
}

// DeviceInfo is the DeviceInformation a device sent (MS-ASCMD 2.2.3.53).
type DeviceInfo struct {
	Model          string `json:"model,omitempty"`
	IMEI           string `json:"imei,omitempty"`
	FriendlyName   string `json:"friendly_name,omitempty"`
	OS             string `json:"os,omitempty"`
	OSLanguage     string `json:"os_language,omitempty"`
	PhoneNumber    string `json:"phone_number,omitempty"`
	MobileOperator string `json:"mobile_operator,omitempty"`
}

// AccountJSON is one user of a device.
type AccountJSON struct {
	User        string           `json:"user"`
	FirstSeen   time.Time        `json:"first_seen"`
	LastSeen    time.Time        `json:"last_seen"`
	Policy      PolicyJSON       `json:"policy"`
	Wipe        WipeJSON         `json:"wipe"`
	Resync      *ResyncJSON      `json:"resync,omitempty"`
	Collections []CollectionJSON `json:"collections,omitempty"`
}

// PolicyJSON is an account's provisioning state.
type PolicyJSON struct {
	State          string    `json:"state"` // none, pending, acknowledged
	Key            uint32    `json:"key,omitempty"`
	IssuedAt       time.Time `json:"issued_at,omitzero"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
}

// WipeJSON is an account's wipe request.
type WipeJSON struct {
	State          string    `json:"state"`          // none, pending, done
	Kind           string    `json:"kind,omitempty"` // full, account-only
	RequestedBy    string    `json:"requested_by,omitempty"`
	RequestedAt    time.Time `json:"requested_at,omitzero"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
}

// ResyncJSON is a forced resync the device has not carried out.
type ResyncJSON struct {
	All         bool     `json:"all,omitempty"`
	Collections []string `json:"collections,omitempty"`
}

// CollectionJSON is one synced collection.
type CollectionJSON struct {
	ID      string `json:"id"`
	Folder  string `json:"folder,omitempty"` // the store's folder id
	Items   int    `json:"items"`
	SyncKey string `json:"sync_key"`
}

// RuleJSON is a device access rule.
type RuleJSON struct {
	By        string    `json:"by"` // device_id, user_agent, model, type
	Value     string    `json:"value"`
	Level     string    `json:"level"` // allow, block, quarantine
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func ruleJSON(r statecache.AccessRule) *RuleJSON {
	return &RuleJSON{By: string(r.By), Value: r.Value, Level: r.Level.String(), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
}

func wipeKind(k statecache.WipeKind) string {
	switch k {
	case statecache.WipeFull:
		return "full"
	case statecache.WipeAccountOnly:
		return "account-only"
	}
	return ""
}

func deviceJSON(e *statecache.DeviceEntry) *DeviceJSON {
	d := &DeviceJSON{
		ID: e.ID, Type: e.Type, UserAgent: e.UserAgent, Protocol: e.ProtocolVersion,
		FirstSeen: e.FirstSeen, LastSeen: e.LastSeen, Users: []AccountJSON{},
	}
	if i := e.Info; i != (statecache.DeviceInfo{}) {
		d.Info = &DeviceInfo{Model: i.Model, IMEI: i.IMEI, FriendlyName: i.FriendlyName, OS: i.OS,
			OSLanguage: i.OSLanguage, PhoneNumber: i.PhoneNumber, MobileOperator: i.MobileOperator}
	}
	if e.Access != nil {
		d.Access = ruleJSON(*e.Access)
	}
	for _, a := range e.Accounts {
		aj := AccountJSON{
			User: a.User, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
			Policy: PolicyJSON{State: a.Policy.State(), Key: a.Policy.Key, IssuedAt: a.Policy.IssuedAt, AcknowledgedAt: a.Policy.AcknowledgedAt},
			Wipe: WipeJSON{State: a.Wipe.State(), Kind: wipeKind(a.Wipe.Kind), RequestedBy: a.Wipe.RequestedBy,
				RequestedAt: a.Wipe.RequestedAt, AcknowledgedAt: a.Wipe.AcknowledgedAt},
		}
		if a.Resync.Pending() {
			aj.Resync = &ResyncJSON{All: a.Resync.Hierarchy, Collections: a.Resync.Collections}
		}
		d.Users = append(d.Users, aj)
	}
	return d
}

// deviceFilter reads a DeviceFilter from the query: user, type, protocol,
// q (search), seen_after and seen_before (RFC 3339), policy, wipe, access,
// after (paging) and limit (at most 5000).
func deviceFilter(q map[string][]string) (statecache.DeviceFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := statecache.DeviceFilter{
		User: get("user"), Type: get("type"), Protocol: get("protocol"), Search: get("q"),
		Policy: get("policy"), Wipe: get("wipe"), Access: get("access"), After: get("after"),
	}
	for _, t := range []struct {
		k string
		v *time.Time
	}{{"seen_after", &f.SeenAfter}, {"seen_before", &f.SeenBefore}} {
		if s := get(t.k); s != "" {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, fmt.Errorf("%s: want an RFC 3339 time such as 2026-01-02T15:04:05Z: %w", t.k, err)
			}
			*t.v = v
		}
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 5000 {
			return f, fmt.Errorf("limit: want 1 to 5000, have %q", s)
		}
		f.Limit = n
	}
	for _, c := range []struct{ k, v string }{
		{"policy", f.Policy}, {"wipe", f.Wipe}, {"access", f.Access},
	} {
		ok := map[string][]string{
			"policy": {"none", "pending", "acknowledged"},
			"wipe":   {"none", "pending", "done"},
			"access": {"allow", "block", "quarantine", "default"},
		}[c.k]
		if c.v != "" && !slices.Contains(ok, c.v) {
			return f, fmt.Errorf("%s: want one of %s, have %q", c.k, strings.Join(ok, ", "), c.v)
		}
	}
	return f, nil
}

// DeviceList is the answer of GET devices.
type DeviceList struct {
	Devices []*DeviceJSON `json:"devices"`
	// Next, when set, is the "after" parameter of the next page.
	Next string `json:"next,omitempty"`
}

func (s *Server) listDevices(ctx context.Context, f statecache.DeviceFilter) (*DeviceList, error) {
	es, more, err := s.state.ListDevices(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &DeviceList{Devices: []*DeviceJSON{}}
	for i := range es {
		out.Devices = append(out.Devices, deviceJSON(&es[i]))
	}
	if more {
		out.Next = es[len(es)-1].ID
	}
	return out, nil
}

func (s *Server) apiListDevices(w http.ResponseWriter, r *http.Request) {
	f, err := deviceFilter(r.URL.Query())
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	out, err := s.listDevices(r.Context(), f)
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// showDevice returns everything the admin API knows of a device: its users
// with their collections, its recent requests and its trace.
func (s *Server) showDevice(ctx context.Context, id string) (*DeviceJSON, error) {
	e, err := s.state.DeviceEntry(ctx, id)
	if errors.Is(err, statecache.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "no device %q", id)
	}
	if err != nil {
		return nil, err
	}
	d := deviceJSON(e)
	for i := range d.Users {
		cs, err := s.state.Collections(ctx, statecache.Account{User: d.Users[i].User, Device: id})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			d.Users[i].Collections = append(d.Users[i].Collections,
				CollectionJSON{ID: c.ID, Folder: c.FolderID, Items: c.Items, SyncKey: string(c.SyncKey)})
		}
	}
	d.Recent = s.traces.lastRequests(id)
	d.Trace = s.traces.status(id, s.now())
	return d, nil
}

func (s *Server) apiShowDevice(w http.ResponseWriter, r *http.Request) {
	d, err := s.showDevice(r.Context(), r.PathValue("id"))
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// ActionRequest is the body of an action. Every field is optional.
type ActionRequest struct {
	// User selects one user of the device. Wipes need it when the device
	// has several users; resync, reprovision and remove act on every user
	// without it.
	User string `json:"user,omitempty"`
	// Collection, for resync, is the CollectionId to resync alone.
	Collection string `json:"collection,omitempty"`
	// By names who acts, for the record; "admin" when empty.
	By string `json:"by,omitempty"`
	// Minutes and Max, for trace: how long it stays on (default 30, at
	// most 1440) and how many exchanges it keeps (default and most:
	// DefaultTraceEntries).
	Minutes int `json:"minutes,omitempty"`
	Max     int `json:"max,omitempty"`
}

// ActionResult is the answer of a successful action.
type ActionResult struct {
	Device  string   `json:"device"`
	Users   []string `json:"users,omitempty"`
	Message string   `json:"message"`
}

func (s *Server) apiDeviceAction(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	if err := readJSON(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	if req.By == "" {
		req.By = "admin"
	}
	res, err := s.DeviceAction(r.Context(), r.PathValue("id"), r.PathValue("action"), req)
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiRemoveDevice(w http.ResponseWriter, r *http.Request) {
	req := ActionRequest{User: r.URL.Query().Get("user"), By: "admin"}
	res, err := s.DeviceAction(r.Context(), r.PathValue("id"), "remove", req)
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxAdminBody))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// Actions lists the device actions DeviceAction knows.
var Actions = []string{"wipe", "account-wipe", "cancel-wipe", "resync", "reprovision", "remove",
	"block", "allow", "quarantine", "unblock", "trace", "trace-stop"}

// DeviceAction carries out action on device id: the admin API's POST
// devices/{id}/{action}, also used by the consoles. The device sees it at
// its next request; a waiting Ping of the device is ended so that the next
// request comes now.
func (s *Server) DeviceAction(ctx context.Context, id, action string, req ActionRequest) (*ActionResult, error) {
	e, err := s.state.DeviceEntry(ctx, id)
	if errors.Is(err, statecache.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "no device %q (GET %sdevices lists them)", id, AdminPrefix)
	}
	if err != nil {
		return nil, err
	}
	users, err := actionUsers(e, action, req.User)
	if err != nil {
		return nil, err
	}
	res := &ActionResult{Device: id, Users: users}
	now := s.now()
	switch action {
	case "wipe", "account-wipe":
		kind := statecache.WipeFull
		if action == "account-wipe" {
			kind = statecache.WipeAccountOnly
			if v, err := eas.ParseVersion(e.ProtocolVersion); err != nil || v < eas.V161 {
				return nil, refuse(http.StatusConflict,
					"device %q speaks EAS %s: an account-only wipe needs 16.1, and an older device would never carry it out; use a full wipe, or remove the user's account", id, orUnknown(e.ProtocolVersion))
			}
		}
		a := statecache.Account{User: users[0], Device: id}
		if err := s.state.RequestWipe(ctx, a, kind, req.By, now); err != nil {
			return nil, err
		}
		res.Message = fmt.Sprintf("%s wipe of %s requested for %s; it happens at the device's next request", wipeKind(kind), id, users[0])
	case "cancel-wipe":
		a := statecache.Account{User: users[0], Device: id}
		if err := s.state.CancelWipe(ctx, a); errors.Is(err, statecache.ErrWipeAcknowledged) {
			return nil, refuse(http.StatusConflict, "device %q already carried out the wipe", id)
		} else if err != nil {
			return nil, err
		}
		res.Message = fmt.Sprintf("wipe request for %s on %s withdrawn", users[0], id)
	case "resync":
		for _, u := range users {
			err := s.state.ForceResync(ctx, statecache.Account{User: u, Device: id}, req.Collection)
			if errors.Is(err, statecache.ErrNotFound) && req.Collection != "" {
				return nil, refuse(http.StatusNotFound, "user %q on device %q has no synced collection %q (GET %sdevices/%s lists them)", u, id, req.Collection, AdminPrefix, id)
			}
			if err != nil {
				return nil, err
			}
		}
		what := "every folder"
		if req.Collection != "" {
			what = "collection " + req.Collection
		}
		res.Message = fmt.Sprintf("%s of %s will be resynced from scratch at the device's next request", what, id)
	case "reprovision":
		if s.policy.Mode == PolicyNone {
			return nil, refuse(http.StatusConflict, "policy mode is none: devices do not provision, so there is nothing to redo (set [policy] mode)")
		}
		for _, u := range users {
			if err := s.state.ResetPolicy(ctx, statecache.Account{User: u, Device: id}); err != nil {
				return nil, err
			}
		}
		res.Message = fmt.Sprintf("%s must provision again and receives a new policy key at its next request", id)
	case "remove":
		// Wake first: the waits would otherwise outlive the state.
		s.wake(ctx, id)
		for _, u := range users {
			if err := s.state.DeleteAccount(ctx, statecache.Account{User: u, Device: id}); err != nil && !errors.Is(err, statecache.ErrNotFound) {
				return nil, err
			}
		}
		s.traces.stop(id)
		res.Message = fmt.Sprintf("state of %s removed; if it connects again it starts over as a new device", id)
		return res, nil
	case "block", "allow", "quarantine":
		level, _ := statecache.ParseAccessLevel(action)
		rule := statecache.AccessRule{By: statecache.ByDeviceID, Value: id, Level: level, CreatedBy: req.By, CreatedAt: now}
		if err := s.state.SetAccessRule(ctx, rule); err != nil {
			return nil, err
		}
		res.Message = fmt.Sprintf("device %s: %s from its next request", id, level)
	case "unblock":
		if err := s.state.DeleteAccessRule(ctx, statecache.ByDeviceID, id); errors.Is(err, statecache.ErrNotFound) {
			return nil, refuse(http.StatusNotFound, "no rule names device %q; a rule by type, model or user agent may still apply (GET %srules)", id, AdminPrefix)
		} else if err != nil {
			return nil, err
		}
		res.Message = fmt.Sprintf("device %s: its own rule removed; the rules by type, model and user agent apply", id)
	case "trace":
		st := s.traces.start(id, req.Minutes, req.Max, now)
		s.log.Warn("per-device trace on: request and response bodies of this device are kept in memory",
			"device_id", id, "until", st.Until, "max", st.Max)
		res.Message = fmt.Sprintf("tracing %s until %s, keeping the last %d exchanges", id, st.Until.UTC().Format(time.RFC3339), st.Max)
		return res, nil
	case "trace-stop":
		s.traces.stop(id)
		res.Message = fmt.Sprintf("trace of %s stopped and discarded", id)
		return res, nil
	}
	s.log.InfoContext(ctx, "device action", "action", action, "device_id", id, "users", users, "by", req.By)
	s.wake(ctx, id)
	return res, nil
}

// actionUsers returns the users an action applies to, or an error the
// operator can act on.
func actionUsers(e *statecache.DeviceEntry, action, user string) ([]string, error) {
	var all []string
	for _, a := range e.Accounts {
		all = append(all, a.User)
	}
	if !slices.Contains(Actions, action) {
		return nil, refuse(http.StatusNotFound, "unknown action %q: want one of %s", action, strings.Join(Actions, ", "))
	}
	if user != "" {
		if !slices.Contains(all, user) {
			return nil, refuse(http.StatusNotFound, "device %q has no user %q (its users: %s)", e.ID, user, strings.Join(all, ", "))
		}
		return []string{user}, nil
	}
	switch action {
	case "wipe", "account-wipe", "cancel-wipe":
		if len(all) != 1 {
			return nil, refuse(http.StatusBadRequest, "device %q has %d users (%s): say which one with \"user\"", e.ID, len(all), strings.Join(all, ", "))
		}
	}
	return all, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "of an unknown version"
	}
	return s
}

func (s *Server) apiListRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.state.AccessRules(r.Context())
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	out := []*RuleJSON{}
	for _, ru := range rules {
		out = append(out, ruleJSON(ru))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out})
}

// SetRule stores an access rule and wakes every waiting device, since any
// may match it.
func (s *Server) SetRule(ctx context.Context, rj RuleJSON) (*RuleJSON, error) {
	level, err := statecache.ParseAccessLevel(rj.Level)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "level: want allow, block or quarantine, have %q", rj.Level)
	}
	if !slices.Contains(characteristicNames(), rj.By) {
		return nil, refuse(http.StatusBadRequest, "by: want one of %s, have %q", strings.Join(characteristicNames(), ", "), rj.By)
	}
	if rj.Value == "" {
		return nil, refuse(http.StatusBadRequest, "value: empty")
	}
	if rj.CreatedBy == "" {
		rj.CreatedBy = "admin"
	}
	rule := statecache.AccessRule{By: statecache.Characteristic(rj.By), Value: rj.Value, Level: level, CreatedBy: rj.CreatedBy, CreatedAt: s.now()}
	if err := s.state.SetAccessRule(ctx, rule); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "access rule set", "by", rj.By, "value", rj.Value, "level", rj.Level, "set_by", rj.CreatedBy)
	s.wakeAll()
	return ruleJSON(rule), nil
}

func characteristicNames() []string {
	var out []string
	for _, c := range statecache.Characteristics {
		out = append(out, string(c))
	}
	return out
}

// wakeAll ends every waiting request, on every node, with
// errAdminAction: a rule may match any device.
func (s *Server) wakeAll() {
	s.signal(context.Background(), signal{Kind: signalAll})
}

func (s *Server) apiSetRule(w http.ResponseWriter, r *http.Request) {
	var rj RuleJSON
	if err := readJSON(r, &rj); err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	out, err := s.SetRule(r.Context(), rj)
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiDeleteRule(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by, value := statecache.Characteristic(q.Get("by")), q.Get("value")
	err := s.state.DeleteAccessRule(r.Context(), by, value)
	if errors.Is(err, statecache.ErrNotFound) {
		apiError(w, http.StatusNotFound, fmt.Errorf("no rule by %s %q", by, value))
		return
	}
	if err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	s.wakeAll()
	writeJSON(w, http.StatusOK, map[string]string{"message": fmt.Sprintf("rule by %s %q removed", by, value)})
}
