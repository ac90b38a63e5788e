package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/statecache"
)

const deviceUsage = `usage: easgate device COMMAND [flags] [DEVICE]

Where:  -state DIR     the statecache directory of easgate serve: through its
                       admin socket while serve runs, directly when it is stopped
        -url URL       or the admin listener of a running serve (e.g.
                       http://127.0.0.1:8081), with the token in
                       EASGATE_ADMIN_TOKEN or the file of -token-file

Commands:
  list [-user U] [-type T] [-q TEXT] [-protocol V] [-wipe none|pending|done]
       [-policy none|pending|acknowledged] [-access default|allow|block|quarantine]
       [-seen-after TIME] [-seen-before TIME] [-limit N] [-after DEVICE]
                                   devices, filtered
  show DEVICE                      what a device told the server, its users,
                                   collections, policy keys, wipes, requests
  wipe [-user U] [-account-only] DEVICE
                                   erase the device (or, with -account-only,
                                   only U's data: EAS 16.1 devices only)
  cancel-wipe [-user U] DEVICE     withdraw a wipe not carried out yet
  resync [-user U] [-collection ID] DEVICE
                                   make the device sync everything (or one
                                   collection) again from scratch
  reprovision [-user U] DEVICE     make the device provision again
  remove [-user U] DEVICE          forget the device's state
  block|quarantine|allow DEVICE    set the device's own access rule
  unblock DEVICE                   remove the device's own access rule
  rules                            list the access rules
  rule-set -by device_id|user_agent|model|type -value V -level allow|block|quarantine
  rule-delete -by B -value V
  trace [-minutes N] [-max N] DEVICE
                                   keep the device's requests and responses
                                   (running server only)
  trace-get [-json] DEVICE         print the trace
  trace-stop DEVICE                stop and discard the trace

-user is needed for wipes when the device has several users (show lists
them): USER is the name as the device logs in with it.
`

// deviceCommands lists the subcommands and whether each takes a DEVICE.
var deviceCommands = map[string]bool{
	"list": false, "show": true, "wipe": true, "cancel-wipe": true, "resync": true, "reprovision": true,
	"remove": true, "block": true, "quarantine": true, "allow": true, "unblock": true,
	"rules": false, "rule-set": false, "rule-delete": false,
	"trace": true, "trace-get": true, "trace-stop": true,
}

// runDevice runs "easgate device". Usage errors are *exitError with code 2.
func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, errors.New("device: missing command (list, show, wipe, ...)")}
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, deviceUsage)
		return nil
	}
	wantDevice, known := deviceCommands[sub]
	if !known {
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, fmt.Errorf("device: unknown subcommand %q", sub)}
	}
	fs := flag.NewFlagSet("easgate device "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deviceUsage) }
	dir := fs.String("state", "", "the statecache `DIR`ectory")
	base := fs.String("url", os.Getenv("EASGATE_ADMIN_URL"), "the admin listener's `URL`")
	tokenFile := fs.String("token-file", "", "a `file` holding the admin token")
	user := fs.String("user", "", "the `USER` name as the device sends it")
	accountOnly := fs.Bool("account-only", false, "wipe only USER's data (EAS 16.1)")
	collection := fs.String("collection", "", "the CollectionId to resync")
	minutes := fs.Int("minutes", 0, "how long the trace stays on (default 30)")
	max := fs.Int("max", 0, "how many exchanges the trace keeps")
	asJSON := fs.Bool("json", false, "print JSON")
	by := fs.String("by", "", "what the rule matches")
	value := fs.String("value", "", "the rule's value")
	level := fs.String("level", "", "the rule's access level")
	filter := map[string]*string{}
	for _, k := range []string{"type", "q", "protocol", "wipe", "policy", "access", "seen-after", "seen-before", "limit", "after"} {
		filter[k] = fs.String(k, "", "list filter")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("device %s: %w", sub, err)}
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, fmt.Errorf("device "+sub+": "+format, a...)}
	}
	switch {
	case *dir == "" && *base == "":
		return usageErr("-state DIR (or -url URL) is required")
	case wantDevice && fs.NArg() != 1:
		return usageErr("want one DEVICE, have %d arguments", fs.NArg())
	case !wantDevice && fs.NArg() != 0:
		return usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case *accountOnly && sub != "wipe":
		return usageErr("-account-only goes with wipe only")
	case *collection != "" && sub != "resync":
		return usageErr("-collection goes with resync only")
	case (sub == "rule-set" || sub == "rule-delete") && (*by == "" || *value == ""):
		return usageErr("-by and -value are required")
	case sub == "rule-set" && *level == "":
		return usageErr("-level is required")
	}
	c, err := dialAdmin(*dir, *base, *tokenFile)
	if err != nil {
		return err
	}
	defer c.close()
	dev := fs.Arg(0)
	act := gateway.ActionRequest{User: *user, Collection: *collection, By: requester(), Minutes: *minutes, Max: *max}
	switch sub {
	case "list":
		q := url.Values{}
		if *user != "" {
			q.Set("user", *user)
		}
		for k, v := range filter {
			if *v != "" {
				q.Set(strings.ReplaceAll(k, "-", "_"), *v)
			}
		}
		var l gateway.DeviceList
		if err := c.call(ctx, "GET", "devices?"+q.Encode(), nil, &l); err != nil {
			return fmt.Errorf("device list: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, l)
		}
		return listDevices(stdout, &l, *user)
	case "show":
		var d gateway.DeviceJSON
		if err := c.call(ctx, "GET", "devices/"+url.PathEscape(dev), nil, &d); err != nil {
			return fmt.Errorf("device show: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, d)
		}
		return showDevice(stdout, &d)
	case "rules":
		var rs struct{ Rules []gateway.RuleJSON }
		if err := c.call(ctx, "GET", "rules", nil, &rs); err != nil {
			return fmt.Errorf("device rules: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BY\tVALUE\tLEVEL\tSET BY")
		for _, r := range rs.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\n", r.By, r.Value, r.Level, r.CreatedBy, stamp(r.CreatedAt))
		}
		return tw.Flush()
	case "rule-set":
		var r gateway.RuleJSON
		if err := c.call(ctx, "POST", "rules", gateway.RuleJSON{By: *by, Value: *value, Level: *level, CreatedBy: requester()}, &r); err != nil {
			return fmt.Errorf("device rule-set: %w", err)
		}
		fmt.Fprintf(stdout, "rule set: %s %q → %s\n", r.By, r.Value, r.Level)
		return nil
	case "rule-delete":
		q := url.Values{"by": {*by}, "value": {*value}}
		var res map[string]string
		if err := c.call(ctx, "DELETE", "rules?"+q.Encode(), nil, &res); err != nil {
			return fmt.Errorf("device rule-delete: %w", err)
		}
		fmt.Fprintln(stdout, res["message"])
		return nil
	case "trace-get":
		path := "devices/" + url.PathEscape(dev) + "/trace"
		if !*asJSON {
			path += "?format=text"
		}
		b, err := c.raw(ctx, "GET", path, nil)
		if err != nil {
			return fmt.Errorf("device trace-get: %w", err)
		}
		_, err = stdout.Write(b)
		return err
	case "trace", "trace-stop":
		if c.offline {
			return fmt.Errorf("device %s: traces live in the running server's memory, and easgate serve is not running on %s", sub, *dir)
		}
	}
	action := sub
	if sub == "wipe" && *accountOnly {
		action = "account-wipe"
	}
	var res gateway.ActionResult
	if err := c.call(ctx, "POST", "devices/"+url.PathEscape(dev)+"/"+action, act, &res); err != nil {
		return fmt.Errorf("device %s: %w", sub, err)
	}
	fmt.Fprintln(stdout, res.Message)
	return nil
}

// adminClient speaks the admin API: to a running server over its socket
// or URL, or, offline, to an in-process server on the stopped server's
// state directory, so that every command means the same either way.
type adminClient struct {
	hc      *http.Client
	base    string
	token   string
	offline bool
	close   func()
}

// dialAdmin picks how to reach the admin API: base when given; else the
// socket in dir when a server answers on it; else dir itself.
func dialAdmin(dir, base, tokenFile string) (*adminClient, error) {
	if base != "" {
		tok := os.Getenv("EASGATE_ADMIN_TOKEN")
		if tokenFile != "" {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return nil, fmt.Errorf("device: -token-file: %w", err)
			}
			tok = strings.TrimSpace(string(b))
		}
		if tok == "" {
			return nil, errors.New("device: -url needs the admin token in EASGATE_ADMIN_TOKEN or -token-file")
		}
		return &adminClient{hc: &http.Client{Timeout: time.Minute}, base: strings.TrimSuffix(base, "/") + gateway.AdminPrefix,
			token: tok, close: func() {}}, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("statecache: dir: %w", err)
	}
	sock := filepath.Join(dir, adminSocketName)
	if conn, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		conn.Close()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		return &adminClient{hc: &http.Client{Transport: tr, Timeout: time.Minute}, base: "http://easgate" + gateway.AdminPrefix,
			close: tr.CloseIdleConnections}, nil
	}
	st, err := openState(dir)
	if err != nil {
		return nil, err
	}
	// Offline: reprovision only forgets keys, which any policy mode allows.
	gw, err := gateway.New(&gateway.Options{State: st, Policy: gateway.Policy{Mode: gateway.PolicyAllow}})
	if err != nil {
		st.Close()
		return nil, err
	}
	h := gw.AdminAPI(gateway.AdminOptions{Trusted: true})
	return &adminClient{hc: &http.Client{Transport: handlerTransport{h}}, base: "http://offline" + gateway.AdminPrefix,
		offline: true, close: func() { st.Close() }}, nil
}

// handlerTransport answers requests with an http.Handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// openState opens the statecache directory, explaining the usual reason it
// cannot be: a running server holds its lock, and its socket is gone.
func openState(dir string) (*statecache.Store, error) {
	st, err := statecache.Open(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (is easgate serve running on %s? its admin socket %s does not answer: use -url with the admin token, or stop it first: the store locks its directory)",
			err, dir, filepath.Join(dir, adminSocketName))
	}
	return st, nil
}

func (c *adminClient) raw(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("admin API: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

func (c *adminClient) call(ctx context.Context, method, path string, body, out any) error {
	b, err := c.raw(ctx, method, path, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// requester names who acts: the operating-system user.
func requester() string {
	if u := os.Getenv("USER"); u != "" {
		return u + " (easgate device)"
	}
	return "easgate device"
}

func listDevices(w io.Writer, l *gateway.DeviceList, user string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tTYPE\tPROTOCOL\tLAST SEEN\tUSERS\tACCESS\tPOLICY\tWIPE")
	for _, d := range l.Devices {
		var users, policies, wipes []string
		for _, u := range d.Users {
			if user != "" && u.User != user {
				continue
			}
			users = append(users, u.User)
			policies = append(policies, u.Policy.State)
			wipes = append(wipes, strings.TrimSpace(u.Wipe.Kind+" "+u.Wipe.State))
		}
		access := "default"
		if d.Access != nil {
			access = d.Access.Level
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Type, d.Protocol, stamp(d.LastSeen),
			strings.Join(users, ","), access, strings.Join(policies, ","), strings.Join(wipes, ","))
	}
	if l.Next != "" {
		fmt.Fprintf(tw, "(more devices follow: add -after %s)\n", l.Next)
	}
	return tw.Flush()
}

func showDevice(w io.Writer, d *gateway.DeviceJSON) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fields := [][2]string{{"device", d.ID}, {"type", d.Type}, {"user agent", d.UserAgent}, {"protocol", d.Protocol}}
	if i := d.Info; i != nil {
		fields = append(fields, [][2]string{{"model", i.Model}, {"friendly name", i.FriendlyName}, {"imei", i.IMEI},
			{"os", i.OS}, {"os language", i.OSLanguage}, {"phone number", i.PhoneNumber}, {"mobile operator", i.MobileOperator}}...)
	}
	fields = append(fields, [2]string{"first seen", stamp(d.FirstSeen)}, [2]string{"last seen", stamp(d.LastSeen)})
	if a := d.Access; a != nil {
		fields = append(fields, [2]string{"access", fmt.Sprintf("%s by %s %q", a.Level, a.By, a.Value)})
	} else {
		fields = append(fields, [2]string{"access", "default (allowed)"})
	}
	if t := d.Trace; t != nil {
		fields = append(fields, [2]string{"trace", fmt.Sprintf("on until %s, %d of %d exchanges", stamp(t.Until), t.Entries, t.Max)})
	}
	for _, f := range fields {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
	}
	for _, u := range d.Users {
		fmt.Fprintf(tw, "user:\t%s\n", u.User)
		fmt.Fprintf(tw, "  last seen:\t%s\n", stamp(u.LastSeen))
		fmt.Fprintf(tw, "  policy:\t%s\n", policyText(u.Policy))
		fmt.Fprintf(tw, "  wipe:\t%s\n", wipeText(u.Wipe))
		if r := u.Resync; r != nil {
			what := "every folder"
			if !r.All {
				what = "collections " + strings.Join(r.Collections, ", ")
			}
			fmt.Fprintf(tw, "  resync:\t%s, not done yet\n", what)
		}
		for _, c := range u.Collections {
			fmt.Fprintf(tw, "  collection %s:\t%s, %d items, key %s\n", c.ID, c.Folder, c.Items, c.SyncKey)
		}
	}
	if len(d.Recent) > 0 {
		fmt.Fprintf(tw, "recent requests:\t\n")
		for _, r := range d.Recent {
			fmt.Fprintf(tw, "  %s\t%s %s HTTP %d status %d, %d ms\n", stamp(r.At), r.User, r.Command, r.HTTPStatus, r.EASStatus, r.DurationMS)
		}
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func policyText(p gateway.PolicyJSON) string {
	switch p.State {
	case "none":
		return "none"
	case "pending":
		return fmt.Sprintf("key %d issued %s, not acknowledged", p.Key, stamp(p.IssuedAt))
	}
	return fmt.Sprintf("key %d acknowledged %s", p.Key, stamp(p.AcknowledgedAt))
}

func wipeText(wp gateway.WipeJSON) string {
	switch wp.State {
	case "none":
		return "none"
	case "done":
		return fmt.Sprintf("%s wipe done %s (requested by %s)", wp.Kind, stamp(wp.AcknowledgedAt), wp.RequestedBy)
	}
	return fmt.Sprintf("%s wipe pending since %s (requested by %s)", wp.Kind, stamp(wp.RequestedAt), wp.RequestedBy)
}
