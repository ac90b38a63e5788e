package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
)

// Identity of the check's own device: the server keeps sync state for it,
// apart from every phone, and an operator can recognise (or block) it.
const (
	checkDeviceID    = "easgatecheck"
	checkDeviceType  = "EasgateCheck"
	checkUserAgent   = "easgate-check/1"
	checkPasswordEnv = "EASGATE_CHECK_PASSWORD"
)

// checkStep is one line of the report.
type checkStep struct {
	name   string
	result string // "ok", "warn", "FAIL", "skip"
	detail string
	fix    string
}

// checker walks what a phone does when it sets up an account. It only
// reads: Provision never acknowledges a wipe, and Sync sends no Commands.
type checker struct {
	user, pass string
	address    string // the user's mail address, when known
	easURL     string // the EAS endpoint being checked
	given      bool   // easURL came from the command line, not Autodiscover
	roots      *x509.CertPool
	timeout    time.Duration
	ping       time.Duration
	resolver   *net.Resolver
	client     *http.Client
	insecure   bool // a certificate failed: later steps run without verifying it
	steps      []checkStep
	version    eas.ProtocolVersion
	policyKey  string
}

func (c *checker) add(name, result, detail, fix string) {
	c.steps = append(c.steps, checkStep{name, result, detail, fix})
}

// runCheck runs "easgate check".
func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runCheckWith(ctx, args, stdin, stdout, stderr, net.DefaultResolver)
}

// runCheckWith is runCheck looking names up with resolver; tests pass one
// that knows nothing.
func runCheckWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, resolver *net.Resolver) error {
	fs := flag.NewFlagSet("easgate check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "login `name` (default: the address given)")
	caFile := fs.String("ca", "", "PEM `file` of CA certificates to trust instead of the system's")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for each request")
	ping := fs.Duration("ping", 0, "Ping heartbeat to wait through; 0 sends one below any server's minimum, which the server answers at once")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: easgate check [flags] URL|ADDRESS\n\n"+
			"Walks what a phone does: DNS and Autodiscover, TLS, OPTIONS, Provision,\n"+
			"FolderSync, a Sync of the Inbox and a Ping, as device %q, and prints\n"+
			"what failed and how to fix it. It changes no mail. The password comes\n"+
			"from $%s, else it is asked for.\n\n", checkDeviceID, checkPasswordEnv)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("check: %w", err)}
	}
	// Flags may follow the target, as in "easgate check URL -user U".
	var target string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		if target != "" {
			return &exitError{2, fmt.Errorf("check: unexpected argument %q", rest[0])}
		}
		target = rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return &exitError{2, fmt.Errorf("check: %w", err)}
		}
	}
	if target == "" {
		fs.Usage()
		return &exitError{2, errors.New("check: no URL or address")}
	}
	c := &checker{user: *user, timeout: *timeout, ping: *ping, resolver: resolver}
	if strings.Contains(target, "://") {
		u, err := gateway.ParseExternalURL(target)
		if err != nil {
			return &exitError{2, fmt.Errorf("check: %w", err)}
		}
		c.easURL, c.given = u+gateway.Path, true
		if strings.Contains(c.user, "@") {
			c.address = c.user
		}
	} else {
		if !strings.Contains(target, "@") {
			return &exitError{2, fmt.Errorf("check: %q is neither a URL nor a mail address", target)}
		}
		c.address = target
		if c.user == "" {
			c.user = target
		}
	}
	if c.user == "" {
		return &exitError{2, errors.New("check: -user is required with a URL")}
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return &exitError{2, fmt.Errorf("check: -ca: %w", err)}
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			return &exitError{2, fmt.Errorf("check: -ca: no certificate in %s", *caFile)}
		}
	}
	pass, err := checkPassword(stdin, stderr, c.user)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	c.pass = pass
	c.client = &http.Client{
		Timeout:   c.timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.roots}, Proxy: http.ProxyFromEnvironment},
		// A redirect is something to report, not to follow: phones do
		// not follow one on a POST.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.run(ctx)
	fmt.Fprint(stdout, c.report(target))
	for _, s := range c.steps {
		if s.result == "FAIL" {
			return &exitError{1, errors.New("check: the server is not ready for phones (see the report)")}
		}
	}
	return nil
}

// checkPassword reads the password from the environment or, on a
// terminal, without echo; otherwise one line of stdin.
func checkPassword(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	if p, ok := os.LookupEnv(checkPasswordEnv); ok {
		return p, nil
	}
	fmt.Fprintf(stderr, "password for %s: ", user)
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// run walks the steps; one that leaves nothing to build on ends the walk.
func (c *checker) run(ctx context.Context) {
	if c.address != "" {
		c.autodiscover(ctx)
	}
	if c.easURL == "" {
		c.add("EAS", "skip", "no EAS URL: give it as https://host", "")
		return
	}
	c.tls(ctx)
	if !c.options(ctx) || !c.provision(ctx) {
		return
	}
	inbox, ok := c.folderSync(ctx)
	if !ok {
		return
	}
	if c.syncInbox(ctx, inbox) {
		c.pingInbox(ctx, inbox)
	}
}

// autodiscover looks the address's domain up as phones do and compares
// what Autodiscover hands out with the URL being checked.
func (c *checker) autodiscover(ctx context.Context) {
	domain := c.address[strings.LastIndexByte(c.address, '@')+1:]
	var bases []string
	if c.given {
		// The URL's own host first: the operator points at the server.
		u, _ := url.Parse(c.easURL)
		bases = append(bases, u.Scheme+"://"+u.Host)
	}
	var dns []string
	for _, h := range []string{domain, "autodiscover." + domain} {
		if addrs, err := c.resolver.LookupHost(ctx, h); err == nil {
			dns = append(dns, h+" → "+strings.Join(addrs, " "))
			bases = append(bases, "https://"+h)
		} else {
			dns = append(dns, h+": no address")
		}
	}
	if _, srvs, err := c.resolver.LookupSRV(ctx, "autodiscover", "tcp", domain); err == nil && len(srvs) > 0 {
		t := strings.TrimSuffix(srvs[0].Target, ".")
		dns = append(dns, fmt.Sprintf("SRV _autodiscover._tcp.%s → %s:%d", domain, t, srvs[0].Port))
		bases = append(bases, fmt.Sprintf("https://%s:%d", t, srvs[0].Port))
	} else {
		dns = append(dns, "no SRV _autodiscover._tcp."+domain)
	}
	switch {
	case len(bases) == 0:
		result := "FAIL"
		if c.given {
			result = "warn" // the URL was given: the server itself can still be checked
		}
		c.add("DNS", result, strings.Join(dns, "; "),
			"publish autodiscover."+domain+" (A/AAAA or CNAME to the server) or an SRV record _autodiscover._tcp."+domain+" (docs/OPERATIONS.md, Autodiscover)")
		return
	case !slices.ContainsFunc(dns, func(s string) bool {
		return strings.HasPrefix(s, "autodiscover.") && !strings.Contains(s, "no address")
	}) &&
		!slices.ContainsFunc(dns, func(s string) bool { return strings.HasPrefix(s, "SRV") }):
		c.add("DNS", "warn", strings.Join(dns, "; "), "phones that try autodiscover."+domain+" or the SRV record first find nothing there; publish one of them")
	default:
		c.add("DNS", "ok", strings.Join(dns, "; "), "")
	}

	var found string
	var tried []string
	for _, b := range slices.Compact(bases) {
		u, err := c.autodiscoverV2(ctx, b, c.address)
		if err == nil {
			c.add("Autodiscover v2", "ok", b+" → "+u, "")
			found = u
			break
		}
		tried = append(tried, fmt.Sprintf("%s: %v", b, err))
	}
	if found == "" {
		c.add("Autodiscover v2", "warn", strings.Join(tried, "; "), "Outlook for iOS and Android use v2; set server.external_url in easgate, or answer /autodiscover/autodiscover.json at the proxy")
	}
	tried = nil
	var v1 string
	for _, b := range slices.Compact(bases) {
		u, detail, err := c.autodiscoverV1(ctx, b, c.address)
		if err == nil {
			c.add("Autodiscover v1", "ok", b+" → "+u+detail, "")
			v1 = u
			break
		}
		tried = append(tried, fmt.Sprintf("%s: %v", b, err))
	}
	if v1 == "" {
		fix := "phones need it to set up from an address alone; set server.external_url and publish the DNS records (docs/OPERATIONS.md, Autodiscover)"
		if slices.ContainsFunc(tried, func(s string) bool { return strings.Contains(s, "HTTP 401") }) {
			fix = "the password or user name is wrong (the same login a phone uses)"
		}
		c.add("Autodiscover v1", "FAIL", strings.Join(tried, "; "), fix)
	}
	for _, u := range []string{v1, found} {
		if u == "" {
			continue
		}
		switch {
		case !c.given:
			c.easURL = u
		case !strings.EqualFold(u, c.easURL):
			c.add("Autodiscover URL", "FAIL", fmt.Sprintf("Autodiscover hands out %s, but the server answers at %s", u, c.easURL),
				"set server.external_url to the URL phones reach the server at (here "+strings.TrimSuffix(c.easURL, gateway.Path)+")")
			return
		}
	}
}

// autodiscoverV2 asks base for the address's ActiveSync URL.
func (c *checker) autodiscoverV2(ctx context.Context, base, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", base+"/autodiscover/autodiscover.json/v1.0/"+addr+"?Protocol=ActiveSync", nil)
	r.Header.Set("User-Agent", checkUserAgent)
	resp, err := c.client.Do(r)
	if err != nil {
		return "", shortErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var v eas.AutodiscoverV2Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v); err != nil || v.URL == "" {
		return "", fmt.Errorf("not an Autodiscover v2 answer")
	}
	return v.URL, nil
}

// autodiscoverV1 posts the mobilesync request to base and returns the
// MobileSync URL, following one Redirect.
func (c *checker) autodiscoverV1(ctx context.Context, base, addr string) (string, string, error) {
	for hop := 0; hop < 2; hop++ {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		body, err := xmlRequest(addr)
		if err != nil {
			return "", "", err
		}
		r, _ := http.NewRequestWithContext(ctx, "POST", base+gateway.AutodiscoverPath, bytes.NewReader(body))
		r.Header.Set("Content-Type", "text/xml")
		r.Header.Set("User-Agent", checkUserAgent)
		r.SetBasicAuth(c.user, c.pass)
		resp, err := c.client.Do(r)
		if err != nil {
			return "", "", shortErr(err)
		}
		ad, perr := eas.ParseAutodiscoverResponse(resp.Body, 0)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", "", fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if perr != nil {
			return "", "", fmt.Errorf("not a mobilesync Autodiscover answer: %v", perr)
		}
		rb := ad.Response
		switch {
		case rb.Error != nil:
			return "", "", fmt.Errorf("ErrorCode %d %s", rb.Error.ErrorCode, rb.Error.Message)
		case rb.Action == nil:
			return "", "", errors.New("no Action")
		case rb.Action.Error != nil:
			return "", "", fmt.Errorf("Action Error Status %d %s", rb.Action.Error.Status, rb.Action.Error.Message)
		case rb.Action.Redirect != "":
			addr = rb.Action.Redirect
			continue
		case rb.Action.Settings != nil:
			for _, s := range rb.Action.Settings.Server {
				if s.Type == eas.AutodiscoverMobileSync {
					detail := ""
					if hop > 0 {
						detail = " (redirected to " + addr + ")"
					}
					return s.URL, detail, nil
				}
			}
		}
		return "", "", errors.New("no MobileSync server in the answer")
	}
	return "", "", errors.New("redirected more than once")
}

// xmlRequest is the mobilesync Autodiscover request for addr.
func xmlRequest(addr string) ([]byte, error) {
	b, err := xml.Marshal(eas.NewAutodiscoverRequest(addr))
	return append([]byte(xml.Header), b...), err
}

// tls checks the certificate chain and expiry of the EAS URL's host.
func (c *checker) tls(ctx context.Context) {
	u, err := url.Parse(c.easURL)
	if err != nil {
		c.add("TLS", "FAIL", err.Error(), "")
		return
	}
	if u.Scheme != "https" {
		c.add("TLS", "warn", "plain HTTP: phones send passwords only over HTTPS",
			"put a TLS proxy in front of easgate and publish the https URL (server.external_url)")
		return
	}
	host := u.Host
	if u.Port() == "" {
		host += ":443"
	}
	d := tls.Dialer{Config: &tls.Config{RootCAs: c.roots, ServerName: u.Hostname(), InsecureSkipVerify: true}}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		c.add("TLS", "FAIL", shortErr(err).Error(), "the server does not answer TLS on "+host)
		return
	}
	state := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	certs := state.PeerCertificates
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, ct := range certs[1:] {
		inter.AddCert(ct)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{DNSName: u.Hostname(), Roots: c.roots, Intermediates: inter})
	names := strings.Join(leaf.DNSNames, ", ")
	for _, ip := range leaf.IPAddresses {
		names += ", " + ip.String()
	}
	names = strings.TrimPrefix(names, ", ")
	left := time.Until(leaf.NotAfter)
	issuer := leaf.Issuer.CommonName
	if issuer == "" && len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0]
	}
	detail := fmt.Sprintf("%s, issued by %s, expires %s (%d days)", names, issuer,
		leaf.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	var hn x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(verr, &hn):
		c.add("TLS", "FAIL", fmt.Sprintf("the certificate is for %s, not %s", names, u.Hostname()),
			"install a certificate that names "+u.Hostname()+" (and autodiscover.<domain>), or publish the URL under a name the certificate has")
	case errors.As(verr, &ua):
		c.add("TLS", "FAIL", "the chain does not lead to a trusted CA ("+detail+")",
			"serve the full chain (leaf and intermediates) from a public CA; phones reject self-signed certificates")
	case errors.As(verr, &ci) && ci.Reason == x509.Expired:
		c.add("TLS", "FAIL", "the certificate has expired: "+detail, "renew the certificate")
	case verr != nil:
		c.add("TLS", "FAIL", verr.Error(), "fix the certificate chain")
	case left < 14*24*time.Hour:
		c.add("TLS", "warn", detail, "renew the certificate soon")
	default:
		c.add("TLS", "ok", detail, "")
		return
	}
	c.insecure = true
	c.client.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
}

// eas posts one command and returns the HTTP status and body.
func (c *checker) eas(ctx context.Context, cmd string, req any) (int, http.Header, []byte, error) {
	var body []byte
	if req != nil {
		var err error
		if body, err = eas.Marshal(req); err != nil {
			return 0, nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout+c.ping)
	defer cancel()
	q := url.Values{"Cmd": {cmd}, "User": {c.user}, "DeviceId": {checkDeviceID}, "DeviceType": {checkDeviceType}}
	r, err := http.NewRequestWithContext(ctx, "POST", c.easURL+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	r.SetBasicAuth(c.user, c.pass)
	r.Header.Set("MS-ASProtocolVersion", c.version.String())
	r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	r.Header.Set("User-Agent", checkUserAgent)
	if c.policyKey != "" {
		r.Header.Set("X-MS-PolicyKey", c.policyKey)
	}
	resp, err := c.client.Do(r)
	if err != nil {
		return 0, nil, nil, shortErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, resp.Header, b, err
}

// httpFail names the fix for an HTTP status any command may get.
func (c *checker) httpFail(step string, code int, h http.Header) {
	switch code {
	case http.StatusUnauthorized:
		c.add(step, "FAIL", "HTTP 401: the login was refused", "check the user name (as the phone sends it: user, user@domain or DOMAIN\\user) and the password")
	case http.StatusForbidden:
		c.add(step, "FAIL", "HTTP 403: the device is not allowed", "the server blocks DeviceId "+checkDeviceID+" or type "+checkDeviceType+"; allow them (or the user) in the device access rules (on easgate: easgate device allow "+checkDeviceID+")")
	case 449:
		c.add(step, "FAIL", "HTTP 449 to a provisioned device: a 449 loop", "the server does not accept the policy key it just issued; phones loop the same way (check the proxy passes X-MS-PolicyKey, and the state directory is writable)")
	case http.StatusServiceUnavailable:
		c.add(step, "FAIL", "HTTP 503: the server cannot reach its store", "check the store (JMAP, IMAP, Graph) is up and reachable from easgate")
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		c.add(step, "FAIL", fmt.Sprintf("HTTP %d to %s", code, h.Get("Location")), "phones do not follow redirects on EAS requests: publish the final URL as server.external_url")
	default:
		c.add(step, "FAIL", fmt.Sprintf("HTTP %d", code), "see the server's log for this request (device "+checkDeviceID+")")
	}
}

// options checks discovery and picks the protocol version.
func (c *checker) options(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "OPTIONS", c.easURL, nil)
	r.SetBasicAuth(c.user, c.pass)
	r.Header.Set("User-Agent", checkUserAgent)
	resp, err := c.client.Do(r)
	if err != nil {
		c.add("OPTIONS", "FAIL", shortErr(err).Error(), "the EAS URL is not reachable: check the address, the port and the proxy")
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.httpFail("OPTIONS", resp.StatusCode, resp.Header)
		return false
	}
	for _, s := range strings.Split(resp.Header.Get("MS-ASProtocolVersions"), ",") {
		if v, err := eas.ParseVersion(strings.TrimSpace(s)); err == nil && v >= eas.V121 && v > c.version {
			c.version = v
		}
	}
	if c.version == 0 {
		c.add("OPTIONS", "FAIL", fmt.Sprintf("no protocol version from 12.1 on in %q", resp.Header.Get("MS-ASProtocolVersions")),
			"the URL does not lead to an EAS server, or a proxy drops the MS-AS* headers")
		return false
	}
	cmds := strings.Split(resp.Header.Get("MS-ASProtocolCommands"), ",")
	var missing []string
	for _, want := range []string{"FolderSync", "Sync", "Ping", "Provision"} {
		if !slices.Contains(cmds, want) {
			missing = append(missing, want)
		}
	}
	detail := "versions " + resp.Header.Get("MS-ASProtocolVersions") + "; using " + c.version.String()
	if len(missing) > 0 {
		c.add("OPTIONS", "warn", detail+"; commands lack "+strings.Join(missing, ", "), "")
	} else {
		c.add("OPTIONS", "ok", detail, "")
	}
	return true
}

// provision runs the two-step Provision of MS-ASPROV, and never
// acknowledges a wipe.
func (c *checker) provision(ctx context.Context) bool {
	pt := eas.PolicyTypeFor(c.version)
	var resp eas.ProvisionResponse
	code, h, body, err := c.eas(ctx, "Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: pt}}})
	if !c.answered("Provision", code, h, body, err, &resp) {
		return false
	}
	if resp.RemoteWipe || resp.AccountOnlyRemoteWipe {
		c.add("Provision", "FAIL", "the server asks device "+checkDeviceID+" to wipe itself (not acknowledged)",
			"cancel the wipe of device "+checkDeviceID+" (on easgate: easgate device cancel-wipe "+checkDeviceID+")")
		return false
	}
	if s := int(resp.Status); s >= 100 {
		c.statusFail("Provision", s)
		return false
	}
	p := resp.Policies
	if resp.Status != eas.ProvisionSuccess || p == nil || p.Policy == nil {
		c.add("Provision", "FAIL", fmt.Sprintf("status %d", resp.Status), "")
		return false
	}
	if p.Policy.Status == eas.PolicyNotDefined || p.Policy.PolicyKey == "" {
		c.add("Provision", "ok", "no policy for this device", "")
		c.policyKey = p.Policy.PolicyKey
		return true
	}
	c.policyKey = p.Policy.PolicyKey
	resp = eas.ProvisionResponse{}
	code, h, body, err = c.eas(ctx, "Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{
		PolicyType: pt, PolicyKey: c.policyKey, Status: eas.PolicyAckApplied}}})
	if !c.answered("Provision", code, h, body, err, &resp) {
		return false
	}
	if resp.Policies == nil || resp.Policies.Policy == nil || resp.Policies.Policy.PolicyKey == "" {
		c.add("Provision", "FAIL", fmt.Sprintf("the acknowledgement got no final key (status %d)", resp.Status),
			"the server's provisioning is broken; phones will loop on 449")
		return false
	}
	c.policyKey = resp.Policies.Policy.PolicyKey
	c.add("Provision", "ok", "policy acknowledged, key "+c.policyKey, "")
	return true
}

// answered checks the HTTP side of an answer and decodes its body into v.
func (c *checker) answered(step string, code int, h http.Header, body []byte, err error, v any) bool {
	if err != nil {
		c.add(step, "FAIL", err.Error(), "")
		return false
	}
	if code != http.StatusOK {
		c.httpFail(step, code, h)
		return false
	}
	if err := eas.Unmarshal(body, v, nil); err != nil {
		c.add(step, "FAIL", fmt.Sprintf("undecodable answer: %v", err), "")
		return false
	}
	return true
}

// statusFail reports a common status (MS-ASCMD 2.2.2) in a body.
func (c *checker) statusFail(step string, s int) {
	switch eas.Status(s) {
	case eas.StatusDeviceIsBlockedForThisUser, eas.StatusAccessDenied:
		c.add(step, "FAIL", fmt.Sprintf("status %d: device blocked", s), "the server blocks DeviceId "+checkDeviceID+" or type "+checkDeviceType+"; allow them in the device access rules (on easgate: easgate device allow "+checkDeviceID+")")
	case eas.StatusRemoteWipeRequested:
		c.add(step, "FAIL", "status 140: a wipe is pending for this device", "cancel the wipe of device "+checkDeviceID+" (on easgate: easgate device cancel-wipe "+checkDeviceID+")")
	case 142, 143, 144:
		c.add(step, "FAIL", fmt.Sprintf("status %d right after provisioning: a 449 loop", s), "the server does not accept the policy key it just issued; check the proxy passes X-MS-PolicyKey")
	default:
		c.add(step, "FAIL", fmt.Sprintf("status %d", s), "see MS-ASCMD 2.2.2 and the server's log")
	}
}

// folderSync fetches the hierarchy and returns the Inbox's ServerId.
func (c *checker) folderSync(ctx context.Context) (string, bool) {
	var resp eas.FolderSyncResponse
	code, h, body, err := c.eas(ctx, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"})
	if !c.answered("FolderSync", code, h, body, err, &resp) {
		return "", false
	}
	if s := int(resp.Status); s != 1 {
		c.statusFail("FolderSync", s)
		return "", false
	}
	if resp.Changes == nil {
		c.add("FolderSync", "FAIL", "no folders", "the store shows this user no folders")
		return "", false
	}
	for _, f := range resp.Changes.Add {
		if f.Type == eas.FolderTypeInbox {
			c.add("FolderSync", "ok", fmt.Sprintf("%d folders, Inbox is %q", len(resp.Changes.Add), f.DisplayName), "")
			return f.ServerID, true
		}
	}
	c.add("FolderSync", "FAIL", fmt.Sprintf("%d folders, none of type Inbox", len(resp.Changes.Add)), "phones need an Inbox; check the store's special-use folders")
	return "", false
}

// syncInbox syncs the Inbox with a small window and sends no changes.
func (c *checker) syncInbox(ctx context.Context, inbox string) bool {
	col := eas.SyncCollection{SyncKey: "0", CollectionID: inbox}
	if c.version < eas.V140 {
		col.Class = "Email"
	}
	sync := func(col eas.SyncCollection) (*eas.SyncResponseCollection, bool) {
		var resp eas.SyncResponse
		code, h, body, err := c.eas(ctx, "Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{col}}})
		if !c.answered("Sync", code, h, body, err, &resp) {
			return nil, false
		}
		if resp.Status != 0 && resp.Status != 1 {
			c.statusFail("Sync", int(resp.Status))
			return nil, false
		}
		if resp.Collections == nil || len(resp.Collections.Collection) != 1 {
			c.add("Sync", "FAIL", "no collection in the answer", "")
			return nil, false
		}
		rc := &resp.Collections.Collection[0]
		if rc.Status != 1 {
			c.add("Sync", "FAIL", fmt.Sprintf("Inbox status %d", rc.Status), "see the server's log for device "+checkDeviceID)
			return nil, false
		}
		return rc, true
	}
	first, ok := sync(col)
	if !ok {
		return false
	}
	col.SyncKey, col.WindowSize = first.SyncKey, 5
	second, ok := sync(col)
	if !ok {
		return false
	}
	n := 0
	if second.Commands != nil {
		n = len(second.Commands.Add)
	}
	more := ""
	if second.MoreAvailable {
		more = " (more available)"
	}
	c.add("Sync", "ok", fmt.Sprintf("Inbox: %d items in the first window of 5%s", n, more), "")
	return true
}

// pingInbox sends one Ping on the Inbox. With no -ping heartbeat it asks
// for 1 s, which every server answers at once with its minimum (status 5).
func (c *checker) pingInbox(ctx context.Context, inbox string) {
	hb := max(int(c.ping/time.Second), 1)
	start := time.Now()
	var resp eas.PingResponse
	code, h, body, err := c.eas(ctx, "Ping", &eas.PingRequest{HeartbeatInterval: hb,
		Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: inbox, Class: "Email"}}}})
	if !c.answered("Ping", code, h, body, err, &resp) {
		return
	}
	took := time.Since(start).Round(time.Millisecond)
	switch resp.Status {
	case eas.PingStatusInvalidHeartbeat:
		c.add("Ping", "ok", fmt.Sprintf("push is offered; heartbeats from %d s (answered in %v)", resp.HeartbeatInterval, took), "")
	case eas.PingStatusExpired, eas.PingStatusChanges:
		c.add("Ping", "ok", fmt.Sprintf("status %d after %v", resp.Status, took), "")
	default:
		c.add("Ping", "FAIL", fmt.Sprintf("status %d", resp.Status), "push will not work: see the server's log for device "+checkDeviceID)
	}
}

// report renders the steps.
func (c *checker) report(target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "easgate check %s (user %s, device %s)\n\n", target, c.user, checkDeviceID)
	fails := 0
	for _, s := range c.steps {
		fmt.Fprintf(&b, "  %-4s  %-16s %s\n", s.result, s.name, s.detail)
		if s.fix != "" {
			fmt.Fprintf(&b, "  %-4s  %-16s fix: %s\n", "", "", s.fix)
		}
		if s.result == "FAIL" {
			fails++
		}
	}
	if c.insecure {
		b.WriteString("\nThe steps after TLS ran without verifying the certificate.\n")
	}
	if fails == 0 {
		b.WriteString("\nA phone can set up this account.\n")
	} else {
		fmt.Fprintf(&b, "\n%d problem(s): phones will fail where the first FAIL is.\n", fails)
	}
	return b.String()
}

// shortErr drops the method and URL Go's HTTP client puts before an error.
func shortErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
