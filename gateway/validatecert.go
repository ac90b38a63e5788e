package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"

	"github.com/easgate/easgate/eas"
)

// CertOptions configure ValidateCert (S/MIME certificates). The zero value
// trusts the system's roots and does not check revocation.
type CertOptions struct {
	// Roots are trusted besides the system's roots, for an organisation's
	// own CA.
	Roots []*x509.Certificate

	// NoSystemRoots trusts Roots alone.
	NoSystemRoots bool

	// Revocation, when set, checks each certificate of a verified chain
	// against the CRLs its distribution points name (crl.go). When it is
	// not set (the default), revocation is not checked: no certificate is
	// reported revoked, and a client that asks for the check with CheckCRL
	// is answered 16, revocation status unknown.
	Revocation *RevocationOptions
}

// handleValidateCert answers ValidateCert, MS-ASCMD 2.2.1.22: each
// certificate of Certificates is verified for S/MIME (extended key usage
// emailProtection) up to a trusted root, with the certificates of
// CertificateChain and the other Certificates as intermediates. A device's
// certificates never become roots: they only fill gaps in a chain. Each
// certificate gets its own Status (MS-ASCMD 2.2.3.177.18); the top Status
// is 1 once every certificate was judged, 2 when one is not a certificate.
func (s *Server) handleValidateCert(ctx context.Context, sess *Session, req *eas.ValidateCertRequest) (*eas.ValidateCertResponse, error) {
	var certs, chain []*x509.Certificate
	for i, lst := range [][]string{req.Certificates.Certificate, chainOf(req)} {
		for _, c := range lst {
			der, _ := eas.DecodeCertificate(c) // validated
			x, err := x509.ParseCertificate(der)
			if err != nil {
				return &eas.ValidateCertResponse{Status: eas.ValidateCertProtocolError}, nil
			}
			if i == 0 {
				certs = append(certs, x)
			} else {
				chain = append(chain, x)
			}
		}
	}
	roots, err := s.certRoots()
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "ValidateCert: roots", slog.String("user", sess.User), slog.Any("err", err))
		return &eas.ValidateCertResponse{Status: eas.ValidateCertUnknownServerFailure}, nil
	}
	known := append(append(chain, certs...), s.certs.Roots...)
	inter := x509.NewCertPool()
	for _, c := range known[:len(chain)+len(certs)] {
		inter.AddCert(c)
	}
	checkCRL := req.CheckCRL != nil && *req.CheckCRL
	resp := &eas.ValidateCertResponse{Status: eas.ValidateCertSuccess}
	for _, c := range certs {
		st := s.validateCert(ctx, c, roots, inter, known, checkCRL)
		resp.Certificate = append(resp.Certificate, eas.ValidateCertCertificate{Status: st})
	}
	return resp, nil
}

func chainOf(req *eas.ValidateCertRequest) []string {
	if req.CertificateChain == nil {
		return nil
	}
	return req.CertificateChain.Certificate
}

// certRoots returns the trusted roots: the system's and CertOptions.Roots.
func (s *Server) certRoots() (*x509.CertPool, error) {
	o := s.certs
	pool := x509.NewCertPool()
	if !o.NoSystemRoots {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("gateway: system roots: %w", err)
		}
		pool = sys.Clone()
	}
	for _, r := range o.Roots {
		pool.AddCert(r)
	}
	return pool, nil
}

// validateCert judges one certificate.
func (s *Server) validateCert(ctx context.Context, c *x509.Certificate, roots, inter *x509.CertPool, known []*x509.Certificate, checkCRL bool) eas.ValidateCertStatus {
	now := s.now()
	chains, err := c.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	})
	if err != nil {
		return verifyStatus(known, err)
	}
	// A signing certificate that limits its key usage must allow
	// signatures (RFC 8550 4.4.2).
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return eas.ValidateCertNotForSigning
	}
	ch := chains[0]
	for i := 0; i+1 < len(ch); i++ {
		if ch[i].NotBefore.Before(ch[i+1].NotBefore) || ch[i].NotAfter.After(ch[i+1].NotAfter) {
			return eas.ValidateCertBadTimeNesting
		}
	}
	if s.certs.Revocation == nil {
		if checkCRL {
			return eas.ValidateCertRevocationUnknown
		}
		return eas.ValidateCertSuccess
	}
	return s.crls.check(ctx, s.certs.Revocation, ch, now, checkCRL)
}

// verifyStatus is the status of a failed x509 verification; known are
// the certificates at hand to tell a bad signature from a missing issuer.
func verifyStatus(known []*x509.Certificate, err error) eas.ValidateCertStatus {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv):
		switch inv.Reason {
		case x509.Expired:
			return eas.ValidateCertExpired
		case x509.NotAuthorizedToSign:
			return eas.ValidateCertWrongRole
		case x509.IncompatibleUsage, x509.CANotAuthorizedForExtKeyUsage:
			return eas.ValidateCertWrongPurpose
		case x509.CANotAuthorizedForThisName, x509.NameMismatch, x509.NameConstraintsWithoutSANs:
			return eas.ValidateCertNameMismatch
		}
		return eas.ValidateCertBadChain
	case errors.As(err, &ua):
		// Go reports an issuer that is no CA, or whose signature fails,
		// as an unknown authority: with the issuer at hand, say which.
		for _, k := range known {
			if ua.Cert == nil || !bytes.Equal(k.RawSubject, ua.Cert.RawIssuer) {
				continue
			}
			if k.CheckSignature(ua.Cert.SignatureAlgorithm, ua.Cert.RawTBSCertificate, ua.Cert.Signature) != nil {
				return eas.ValidateCertBadSignature
			}
			if !k.IsCA {
				return eas.ValidateCertWrongRole
			}
		}
		return eas.ValidateCertUntrustedSource
	}
	return eas.ValidateCertBadChain
}
