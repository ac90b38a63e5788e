package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

// pinnedTLS returns a client TLS configuration that accepts only the
// certificate whose SHA-256 fingerprint is want, as a phone does once
// its user accepted it, and reports the fingerprints it was shown.
func pinnedTLS(want string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // checked by fingerprint below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			got := strings.ToUpper(strings.ReplaceAll(fmt.Sprintf("% x", sum[:]), " ", ":"))
			if got != want {
				return fmt.Errorf("certificate %s, want %s", got, want)
			}
			return nil
		},
	}
}

// TestDemoTLS runs the demo with -tls and a phone over Go's TLS client:
// the printed fingerprint is the certificate's, TLS 1.2 or later with
// HTTP/1.1 only, and a Ping parked on a *tls.Conn hands its connection
// back for the next request.
func TestDemoTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := demoStart(t, ctx, "-tls", "-mail-every", "300ms")
	if !strings.HasPrefix(d.url, "https://") || d.fingerprint == "" {
		t.Fatalf("banner URL %q, fingerprint %q; want https and a fingerprint", d.url, d.fingerprint)
	}
	var dials atomic.Int32
	conf := pinnedTLS(d.fingerprint)
	conf.NextProtos = []string{"h2", "http/1.1"}
	tr := &http.Transport{
		TLSClientConfig:   conf,
		ForceAttemptHTTP2: true,
		MaxConnsPerHost:   1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	p := &demoPhone{url: d.url, device: "demotls", version: eas.V141, client: client}
	demoPhoneSession(t, p) // ends with a Ping answered from its parked connection
	var fs eas.FolderSyncResponse
	p.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	if n := dials.Load(); n != 1 {
		t.Errorf("%d TCP connections for a session with a parked Ping, want 1: the parked connection was not handed back", n)
	}

	r, _ := http.NewRequest("OPTIONS", d.url, nil)
	r.SetBasicAuth(demoUser, demoPassword)
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.TLS == nil || res.TLS.Version < tls.VersionTLS12 || res.ProtoMajor != 1 {
		t.Errorf("OPTIONS over TLS: state %+v, protocol %s; want TLS 1.2 or later, HTTP/1.1", res.TLS, res.Proto)
	}

	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}
	host := strings.TrimPrefix(strings.Split(d.url, "/M")[0], "https://")
	if c, err := tls.Dial("tcp", host, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded, want it refused")
	}

	if _, err := exec.LookPath("openssl"); err == nil {
		// A second TLS implementation: openssl's client negotiates and
		// shows the same certificate.
		cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", host, "-alpn", "h2,http/1.1", "-brief")
		cmd.Stdin = strings.NewReader("")
		out, _ := cmd.CombinedOutput()
		if !bytes.Contains(out, []byte("Protocol version: TLSv1.3")) || bytes.Contains(out, []byte("ALPN protocol: h2")) {
			t.Errorf("openssl s_client: want TLS 1.3 and no h2:\n%s", out)
		}
	}
	cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
}

// TestServeTLSReload serves with tls_cert and tls_key, replaces the files
// and sends SIGHUP: new handshakes get the new certificate.
func TestServeTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile)
	url := serveConfig(t, "../../configs/memory.toml", map[string]string{
		"EASGATE_STATE_DIR": t.TempDir(), "EASGATE_SERVER_TLS_CERT": certFile, "EASGATE_SERVER_TLS_KEY": keyFile,
	})
	url = strings.Replace(url, "http://", "https://", 1)
	get := func(fp string) error {
		tr := &http.Transport{TLSClientConfig: pinnedTLS(fp)}
		defer tr.CloseIdleConnections()
		r, _ := http.NewRequest("OPTIONS", url, nil)
		r.SetBasicAuth("alice", "alice-pass")
		res, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(r)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("OPTIONS = %s", res.Status)
		}
		return nil
	}
	if err := get(first); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	second := writeCert(t, certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = get(second); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("after SIGHUP: %v", err)
	}
}

// writeCert writes a new self-signed certificate and key as PEM files and
// returns the certificate's fingerprint.
func writeCert(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	c, err := selfSigned("127.0.0.1:0", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert := c.cur.Load()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600))
	if err != nil {
		t.Fatal(err)
	}
	return c.fingerprint()
}
