package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/eas"
)

// RevocationOptions turn on CRL checking for ValidateCert. Only HTTP
// distribution points are fetched (LDAP ones count as unreachable), and
// only those of certificates whose chain already verified up to a trusted
// root, so a device cannot make the server fetch a URL of its choosing.
// OCSP is not used.
type RevocationOptions struct {
	Timeout time.Duration // one CRL download; 0: 5 s
	MaxSize int64         // bytes of one CRL; 0: 8 MiB
	Client  *http.Client  // nil: http.DefaultClient, bounded by Timeout
}

// Defaults of RevocationOptions and the CRL cache's bound.
const (
	defaultCRLTimeout = 5 * time.Second
	defaultCRLSize    = 8 << 20
	maxCRLs           = 64 // CRLs kept until their NextUpdate; past it the cache starts over
)

// crlCache keeps downloaded CRLs, by URL, until their NextUpdate.
type crlCache struct {
	mu sync.Mutex
	m  map[string]*x509.RevocationList
}

// check judges a verified chain (leaf first, root last) against its CRLs.
// A certificate whose revocation cannot be learned fails only when strict
// (the client's CheckCRL): 14 when a CRL could not be fetched, 16 when the
// certificate names none. MS-ASCMD 2.2.3.26 lets the server ignore an
// unverifiable status otherwise.
func (c *crlCache) check(ctx context.Context, o *RevocationOptions, chain []*x509.Certificate, now time.Time, strict bool) eas.ValidateCertStatus {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		st := c.status(ctx, o, cert, issuer, now)
		switch {
		case st == eas.ValidateCertRevoked && i > 0:
			return eas.ValidateCertChainRevoked
		case st == eas.ValidateCertRevoked:
			return st
		case st != eas.ValidateCertSuccess && strict:
			return st
		}
	}
	return eas.ValidateCertSuccess
}

// status is 1, 13 (revoked), 14 (no CRL could be had) or 16 (none named).
func (c *crlCache) status(ctx context.Context, o *RevocationOptions, cert, issuer *x509.Certificate, now time.Time) eas.ValidateCertStatus {
	st := eas.ValidateCertRevocationUnknown
	for _, u := range cert.CRLDistributionPoints {
		rl, err := c.get(ctx, o, u, issuer, now)
		if err != nil {
			st = eas.ValidateCertCRLUnavailable
			continue
		}
		for _, e := range rl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return eas.ValidateCertRevoked
			}
		}
		return eas.ValidateCertSuccess
	}
	return st
}

// get returns the CRL at url signed by issuer and current at now, from the
// cache or downloaded.
func (c *crlCache) get(ctx context.Context, o *RevocationOptions, url string, issuer *x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	c.mu.Lock()
	rl := c.m[url]
	c.mu.Unlock()
	if rl != nil && now.Before(rl.NextUpdate) && rl.CheckSignatureFrom(issuer) == nil {
		return rl, nil
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("gateway: CRL %s: not HTTP", url)
	}
	timeout, max, client := defaultCRLTimeout, int64(defaultCRLSize), http.DefaultClient
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	if o.MaxSize > 0 {
		max = o.MaxSize
	}
	if o.Client != nil {
		client = o.Client
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("gateway: CRL %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gateway: CRL %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("gateway: CRL %s: HTTP %d", url, resp.StatusCode)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("gateway: CRL %s: %w", url, err)
	}
	if int64(len(der)) > max {
		return nil, fmt.Errorf("gateway: CRL %s: over %d bytes", url, max)
	}
	rl, err = x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("gateway: CRL %s: %w", url, err)
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("gateway: CRL %s: %w", url, err)
	}
	if !rl.NextUpdate.IsZero() && !now.Before(rl.NextUpdate) {
		return nil, fmt.Errorf("gateway: CRL %s: stale since %v", url, rl.NextUpdate)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCRLs {
		c.m = make(map[string]*x509.RevocationList)
	}
	c.m[url] = rl
	c.mu.Unlock()
	return rl, nil
}
