package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// maxHeartbeat is the longest a Ping or hanging Sync may wait by default
// (gateway.Limits.MaxHeartbeat); a balancer must hold a request longer.
const maxHeartbeat = 59 * time.Minute

// directives returns the value of every line of conf starting with name,
// as the proxies' own parsers would see it: comments dropped, the trailing
// ";" of nginx removed.
func directives(conf, name string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		n := len(strings.Fields(name))
		if len(f) > n && strings.Join(f[:n], " ") == name {
			out = append(out, strings.Join(f[n:], " "))
		}
	}
	return out
}

// atLeastHeartbeat fails unless every value of the directive is a duration
// past maxHeartbeat.
func atLeastHeartbeat(t *testing.T, file, conf, name string) {
	t.Helper()
	vs := directives(conf, name)
	if len(vs) == 0 {
		t.Errorf("%s: no %s: the default cuts a waiting Ping", file, name)
	}
	for _, v := range vs {
		d, err := time.ParseDuration(v)
		if err != nil || d <= maxHeartbeat {
			t.Errorf("%s: %s %s: want a duration past the %v heartbeat", file, name, v, maxHeartbeat)
		}
	}
}

// TestHAProxyConfig checks deploy/haproxy/easgate.cfg: timeouts past the
// longest heartbeat, nothing that buffers, an OPTIONS health check, and a
// configuration HAProxy itself accepts (with a throwaway certificate in
// place of the operator's).
func TestHAProxyConfig(t *testing.T) {
	b, err := os.ReadFile("haproxy/easgate.cfg")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, name := range []string{"timeout client", "timeout server", "timeout tunnel"} {
		atLeastHeartbeat(t, "haproxy/easgate.cfg", conf, name)
	}
	for _, bad := range []string{"option http-buffer-request", "compression", "balance source", "stick"} {
		if len(directives(conf, bad)) > 0 {
			t.Errorf("haproxy/easgate.cfg: %q buffers or pins phones to a node", bad)
		}
	}
	if !strings.Contains(conf, "http-check send meth OPTIONS uri /Microsoft-Server-ActiveSync") {
		t.Error("haproxy/easgate.cfg: health check is not OPTIONS /Microsoft-Server-ActiveSync")
	}

	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy (Debian package haproxy, installed by scripts/test.sh) is required in CI")
		}
		t.Skip("haproxy not installed: the configuration is not checked by HAProxy")
	}
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "cert.pem")
	writeSelfSigned(t, pemFile)
	conf = strings.ReplaceAll(conf, "/etc/haproxy/certs/mail.example.org.pem", pemFile)
	conf = strings.ReplaceAll(conf, "/run/haproxy/admin.sock", filepath.Join(dir, "admin.sock"))
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), haproxy, "-c", "-f", path).CombinedOutput()
	if err != nil || regexp.MustCompile(`(?m)^\[(WARNING|ALERT)\]`).Match(out) {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
}

// TestNginxConfig checks deploy/nginx/easgate.conf: read and send timeouts
// past the longest heartbeat, no buffering in either direction, HTTP/1.1
// keep-alive to the nodes.
func TestNginxConfig(t *testing.T) {
	b, err := os.ReadFile("nginx/easgate.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout", "keepalive_timeout"} {
		atLeastHeartbeat(t, "nginx/easgate.conf", conf, name)
	}
	for name, want := range map[string]string{
		"proxy_buffering":             "off",
		"proxy_request_buffering":     "off",
		"gzip":                        "off",
		"proxy_http_version":          "1.1",
		"proxy_set_header Connection": `""`,
	} {
		if got := directives(conf, name); len(got) != 1 || got[0] != want {
			t.Errorf("nginx/easgate.conf: %s = %q, want %q", name, got, want)
		}
	}
}

// TestPostgreSQLConfig checks that deploy/postgresql/easgate.conf keeps
// every commit durable: a lost advance makes a phone resync.
func TestPostgreSQLConfig(t *testing.T) {
	b, err := os.ReadFile("postgresql/easgate.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for name, want := range map[string]string{"fsync": "= on", "synchronous_commit": "= on"} {
		if got := directives(conf, name); len(got) != 1 || got[0] != want {
			t.Errorf("postgresql/easgate.conf: %s %q, want %q", name, got, want)
		}
	}
}

// writeSelfSigned writes a PEM file holding a certificate and its key, as
// HAProxy's "crt" wants.
func writeSelfSigned(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.example.org"},
		DNSNames:     []string{"mail.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
