package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

// certNow is the clock of the ValidateCert tests.
var certNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCA is a CA made in the test, with its key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certTemplate is a template for an S/MIME signing certificate valid a
// year around certNow; mod changes it.
func certTemplate(cn string, serial int64, mod func(*x509.Certificate)) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber:   big.NewInt(serial),
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"easgate test"}},
		NotBefore:      certNow.AddDate(0, -6, 0),
		NotAfter:       certNow.AddDate(0, 6, 0),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		EmailAddresses: []string{cn + "@example.com"},
	}
	if mod != nil {
		mod(t)
	}
	return t
}

// newKey makes a P-256 key.
func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl with ca (self-signed when ca is nil) and returns the
// certificate with its key.
func issue(t *testing.T, tmpl *x509.Certificate, ca *testCA) *testCA {
	t.Helper()
	key := newKey(t)
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

// caTemplate is a CA certificate template valid ten years around certNow.
func caTemplate(cn string, serial int64, mod func(*x509.Certificate)) *x509.Certificate {
	return certTemplate(cn, serial, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		c.ExtKeyUsage, c.EmailAddresses = nil, nil
		c.NotBefore, c.NotAfter = certNow.AddDate(-5, 0, 0), certNow.AddDate(5, 0, 0)
		if mod != nil {
			mod(c)
		}
	})
}

// crlServer serves the CRLs of the test CAs; down makes it answer 503.
type crlServer struct {
	mu      sync.Mutex
	crls    map[string][]byte
	down    bool
	fetches int
}

func (c *crlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetches++
	if b, ok := c.crls[r.URL.Path]; ok && !c.down {
		w.Write(b)
		return
	}
	http.Error(w, "down", http.StatusServiceUnavailable)
}

// publish makes ca's CRL at path list the serials revoked.
func (c *crlServer) publish(t *testing.T, path string, ca *testCA, revoked ...int64) {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: certNow.Add(-time.Hour), NextUpdate: certNow.Add(24 * time.Hour)}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: certNow.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.crls[path] = der
	c.mu.Unlock()
}

// TestValidateCert validates certificates made in the test against a root
// the server trusts, with the intermediate sent by the device in
// CertificateChain, and checks each status of MS-ASCMD 2.2.3.177.18 that
// a chain can produce, with revocation off and with CRLs served on
// loopback (including a CRL server that is down).
func TestValidateCert(t *testing.T) {
	crls := &crlServer{crls: map[string][]byte{}}
	ts := httptest.NewServer(crls)
	defer ts.Close()
	dp := func(path string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.CRLDistributionPoints = []string{ts.URL + path} }
	}

	root := issue(t, caTemplate("Test Root", 1, nil), nil)
	inter := issue(t, caTemplate("Test Intermediate", 2, dp("/root.crl")), root)
	leaf := func(cn string, serial int64, mod func(*x509.Certificate)) *x509.Certificate {
		return issue(t, certTemplate(cn, serial, func(c *x509.Certificate) {
			dp("/inter.crl")(c)
			if mod != nil {
				mod(c)
			}
		}), inter).cert
	}
	good := leaf("alice", 10, nil)
	revoked := leaf("mallory", 11, nil)
	crls.publish(t, "/root.crl", root)
	crls.publish(t, "/inter.crl", inter, 11)

	// An intermediate with the right name and another key: what it signs
	// does not verify under the real one.
	forger := issue(t, caTemplate("Test Intermediate", 3, nil), root)
	forged := issue(t, certTemplate("eve", 12, nil), forger).cert
	otherRoot := issue(t, caTemplate("Other Root", 4, nil), nil)
	notCA := issue(t, certTemplate("Not A CA", 5, func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = true, false }), root)
	underNotCA := issue(t, certTemplate("carol", 13, nil), notCA).cert
	revokedInter := issue(t, caTemplate("Revoked Intermediate", 6, dp("/root2.crl")), root)
	underRevoked := issue(t, certTemplate("dave", 14, dp("/inter2.crl")), revokedInter).cert
	crls.publish(t, "/root2.crl", root, 6)
	crls.publish(t, "/inter2.crl", revokedInter)

	b64 := func(cs ...*x509.Certificate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
		}
		return out
	}
	tests := []struct {
		name       string
		certs      []*x509.Certificate
		chain      []*x509.Certificate
		checkCRL   *bool
		revocation bool
		down       bool
		want       eas.ValidateCertStatus
	}{
		{name: "valid", certs: []*x509.Certificate{good}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertSuccess},
		{name: "intermediate-among-certificates", certs: []*x509.Certificate{good, inter.cert}, want: eas.ValidateCertSuccess},
		{name: "no-intermediate", certs: []*x509.Certificate{good}, want: eas.ValidateCertUntrustedSource},
		{name: "untrusted-root", certs: []*x509.Certificate{issue(t, certTemplate("x", 20, nil), otherRoot).cert}, want: eas.ValidateCertUntrustedSource},
		{name: "device-root-is-not-trusted", certs: []*x509.Certificate{issue(t, certTemplate("x", 21, nil), otherRoot).cert}, chain: []*x509.Certificate{otherRoot.cert}, want: eas.ValidateCertUntrustedSource},
		{name: "bad-signature", certs: []*x509.Certificate{forged}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertBadSignature},
		{name: "expired", certs: []*x509.Certificate{leaf("old", 22, func(c *x509.Certificate) { c.NotAfter = certNow.AddDate(0, -1, 0) })}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertExpired},
		{name: "not-yet-valid", certs: []*x509.Certificate{leaf("new", 23, func(c *x509.Certificate) { c.NotBefore = certNow.AddDate(0, 1, 0) })}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertExpired},
		{name: "server-auth-only", certs: []*x509.Certificate{leaf("web", 24, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertWrongPurpose},
		{name: "encryption-only-key", certs: []*x509.Certificate{leaf("enc", 25, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertNotForSigning},
		{name: "issuer-not-a-ca", certs: []*x509.Certificate{underNotCA}, chain: []*x509.Certificate{notCA.cert}, want: eas.ValidateCertWrongRole},
		{name: "validity-not-nested", certs: []*x509.Certificate{leaf("long", 26, func(c *x509.Certificate) { c.NotAfter = certNow.AddDate(10, 0, 0) })}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertBadTimeNesting},
		{name: "revocation-off-revoked-passes", certs: []*x509.Certificate{revoked}, chain: []*x509.Certificate{inter.cert}, want: eas.ValidateCertSuccess},
		{name: "revocation-off-checkcrl", certs: []*x509.Certificate{good}, chain: []*x509.Certificate{inter.cert}, checkCRL: ptr(true), want: eas.ValidateCertRevocationUnknown},
		{name: "crl-good", certs: []*x509.Certificate{good}, chain: []*x509.Certificate{inter.cert}, checkCRL: ptr(true), revocation: true, want: eas.ValidateCertSuccess},
		{name: "crl-revoked", certs: []*x509.Certificate{revoked}, chain: []*x509.Certificate{inter.cert}, revocation: true, want: eas.ValidateCertRevoked},
		{name: "crl-chain-revoked", certs: []*x509.Certificate{underRevoked}, chain: []*x509.Certificate{revokedInter.cert}, revocation: true, want: eas.ValidateCertChainRevoked},
		{name: "crl-down-ignored", certs: []*x509.Certificate{good}, chain: []*x509.Certificate{inter.cert}, revocation: true, down: true, want: eas.ValidateCertSuccess},
		{name: "crl-down-checkcrl", certs: []*x509.Certificate{good}, chain: []*x509.Certificate{inter.cert}, checkCRL: ptr(true), revocation: true, down: true, want: eas.ValidateCertCRLUnavailable},
		{name: "no-crl-named-checkcrl", certs: []*x509.Certificate{issue(t, certTemplate("nodp", 27, nil), inter).cert}, chain: []*x509.Certificate{inter.cert}, checkCRL: ptr(true), revocation: true, want: eas.ValidateCertRevocationUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{Now: func() time.Time { return certNow }, Certificates: CertOptions{Roots: []*x509.Certificate{root.cert}, NoSystemRoots: true}}
			if tt.revocation {
				o.Certificates.Revocation = &RevocationOptions{Timeout: 5 * time.Second}
			}
			s := newTestServer(t, o, nil)
			crls.mu.Lock()
			crls.down = tt.down
			crls.mu.Unlock()
			req := &eas.ValidateCertRequest{Certificates: &eas.ValidateCertCertificates{Certificate: b64(tt.certs...)}, CheckCRL: tt.checkCRL}
			if tt.chain != nil {
				req.CertificateChain = &eas.ValidateCertCertificates{Certificate: b64(tt.chain...)}
			}
			w := post(s, Path+plainQuery+"ValidateCert", mustMarshal(t, req))
			if w.Code != http.StatusOK {
				t.Fatalf("ValidateCert = HTTP %d, want 200", w.Code)
			}
			var resp eas.ValidateCertResponse
			if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
				t.Fatal(err)
			}
			if resp.Status != eas.ValidateCertSuccess || len(resp.Certificate) != len(tt.certs) {
				t.Fatalf("ValidateCert = %+v, want status 1 and %d certificates", resp, len(tt.certs))
			}
			if got := resp.Certificate[0].Status; got != tt.want {
				t.Errorf("ValidateCert(%s) = %d, want %d", tt.name, got, tt.want)
			}
		})
	}

	// The command is the same in every version.
	for _, v := range eas.AllVersions {
		s := newTestServer(t, &Options{Now: func() time.Time { return certNow }, Certificates: CertOptions{Roots: []*x509.Certificate{root.cert}, NoSystemRoots: true}}, nil)
		req := &eas.ValidateCertRequest{Certificates: &eas.ValidateCertCertificates{Certificate: b64(good)},
			CertificateChain: &eas.ValidateCertCertificates{Certificate: b64(inter.cert)}}
		var resp eas.ValidateCertResponse
		if err := eas.Unmarshal(post(s, Path+plainQuery+"ValidateCert", mustMarshal(t, req), "MS-ASProtocolVersion", v.String()).Body.Bytes(), &resp, nil); err != nil {
			t.Fatalf("at %s: %v", v, err)
		}
		if resp.Status != eas.ValidateCertSuccess || len(resp.Certificate) != 1 || resp.Certificate[0].Status != eas.ValidateCertSuccess {
			t.Errorf("ValidateCert at %s = %+v, want the certificate valid", v, resp)
		}
	}

	// A certificate that is base64 but not DER is a protocol error.
	s := newTestServer(t, &Options{Certificates: CertOptions{NoSystemRoots: true}}, nil)
	req := &eas.ValidateCertRequest{Certificates: &eas.ValidateCertCertificates{Certificate: []string{base64.StdEncoding.EncodeToString([]byte("not a certificate"))}}}
	var resp eas.ValidateCertResponse
	if err := eas.Unmarshal(post(s, Path+plainQuery+"ValidateCert", mustMarshal(t, req)).Body.Bytes(), &resp, nil); err != nil {
		t.Fatal(err)
	}
	if resp.Status != eas.ValidateCertProtocolError {
		t.Errorf("ValidateCert(not DER) = %+v, want status 2", resp)
	}
}
