package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// certSource holds the certificate easgate serves. A certificate loaded
// from files is reloaded by reload (serve calls it on SIGHUP): handshakes
// from then on get the new one, and connections already open, waiting
// Pings among them, keep theirs.
type certSource struct {
	certFile, keyFile string // "" for a generated certificate
	cur               atomic.Pointer[tls.Certificate]
}

// loadCert reads a PEM certificate chain and key.
func loadCert(certFile, keyFile string) (*certSource, error) {
	c := &certSource{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on error the current certificate stays.
func (c *certSource) reload() error {
	if c.certFile == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c.cur.Store(&cert)
	return nil
}

// config returns the server's TLS configuration: TLS 1.2 and later with
// Go's default cipher suites, and HTTP/1.1 only, since EAS is HTTP/1.1 and
// a waiting Ping is parked by taking its HTTP/1.1 connection over.
func (c *certSource) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// fingerprint returns the SHA-256 fingerprint of the leaf certificate, as
// browsers and phones show it: colon-separated upper-case hex.
func (c *certSource) fingerprint() string {
	sum := sha256.Sum256(c.cur.Load().Certificate[0])
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// selfSigned returns a new self-signed certificate for localhost, this
// machine's name and the host of listen, valid for a year from now.
func selfSigned(listen string, now time.Time) (*certSource, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "easgate demo"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if name, err := os.Hostname(); err == nil && name != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && host != "" && host != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c := &certSource{}
	c.cur.Store(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	return c, nil
}
