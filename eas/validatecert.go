package eas

import (
	"encoding/base64"
	"strings"
)

// ValidateCertStatus is a Status of a ValidateCert response, for the whole
// request or for one certificate, MS-ASCMD 2.2.3.177.20.
type ValidateCertStatus int

// ValidateCert statuses.
const (
	ValidateCertSuccess              ValidateCertStatus = 1  // the certificate is valid
	ValidateCertProtocolError        ValidateCertStatus = 2  // the request did not follow the schema
	ValidateCertBadSignature         ValidateCertStatus = 3  // the signature cannot be verified
	ValidateCertUntrustedSource      ValidateCertStatus = 4  // the chain ends at an untrusted root
	ValidateCertBadChain             ValidateCertStatus = 5  // the chain was not built correctly
	ValidateCertNotForSigning        ValidateCertStatus = 6  // not valid for signing email
	ValidateCertExpired              ValidateCertStatus = 7  // expired or not yet valid
	ValidateCertBadTimeNesting       ValidateCertStatus = 8  // validity periods of the chain are not nested
	ValidateCertWrongPurpose         ValidateCertStatus = 9  // used for a purpose it does not allow
	ValidateCertMissingInformation   ValidateCertStatus = 10 // a required field is missing
	ValidateCertWrongRole            ValidateCertStatus = 11 // a CA or end entity in the wrong place
	ValidateCertNameMismatch         ValidateCertStatus = 12 // the names do not match the sender
	ValidateCertRevoked              ValidateCertStatus = 13 // revoked by its issuer
	ValidateCertCRLUnavailable       ValidateCertStatus = 14 // the revocation server could not be reached
	ValidateCertChainRevoked         ValidateCertStatus = 15 // a certificate of the chain is revoked
	ValidateCertRevocationUnknown    ValidateCertStatus = 16 // revocation status cannot be found
	ValidateCertUnknownServerFailure ValidateCertStatus = 17 // some other failure
)

// ValidateCertRequest is the body of a ValidateCert request, MS-ASCMD
// 2.2.1.22: the certificates to check, optional intermediate certificates
// to build their chains with, and whether to consult revocation lists.
// Certificates are base64 text, as the spec sends them.
type ValidateCertRequest struct {
	_                struct{}                  `wbxml:"ValidateCert:ValidateCert"`
	CertificateChain *ValidateCertCertificates `wbxml:"ValidateCert:CertificateChain"`
	Certificates     *ValidateCertCertificates `wbxml:"ValidateCert:Certificates"`
	CheckCRL         *bool                     `wbxml:"ValidateCert:CheckCRL"`
}

// ValidateCertCertificates is a Certificates or CertificateChain element,
// MS-ASCMD 2.2.3.23.2 and 2.2.3.22.
type ValidateCertCertificates struct {
	Certificate []string `wbxml:"ValidateCert:Certificate"`
}

// Validate checks r against the ValidateCert request schema. Version v does
// not matter: the command is the same in every version.
func (r *ValidateCertRequest) Validate(v ProtocolVersion) error {
	if r.Certificates == nil || len(r.Certificates.Certificate) == 0 {
		return schemaErrorf("ValidateCert", "no Certificates/Certificate")
	}
	lists := [][]string{r.Certificates.Certificate}
	if r.CertificateChain != nil {
		lists = append(lists, r.CertificateChain.Certificate)
	}
	for _, l := range lists {
		for i, c := range l {
			if _, err := DecodeCertificate(c); err != nil {
				return schemaErrorf("ValidateCert", "Certificate %d: %v", i+1, err)
			}
		}
	}
	return nil
}

// DecodeCertificate returns the DER bytes of a base64 Certificate element.
// Line breaks and spaces inside the text are ignored, since some clients
// wrap base64.
func DecodeCertificate(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, schemaErrorf("ValidateCert", "empty certificate")
	}
	return base64.StdEncoding.DecodeString(s)
}

// ValidateCertResponse is the body of a ValidateCert response, MS-ASCMD
// 2.2.1.22: an overall Status and one Certificate/Status per certificate
// of the request, in order.
type ValidateCertResponse struct {
	_           struct{}                  `wbxml:"ValidateCert:ValidateCert"`
	Status      ValidateCertStatus        `wbxml:"ValidateCert:Status"`
	Certificate []ValidateCertCertificate `wbxml:"ValidateCert:Certificate"`
}

// ValidateCertCertificate is the result for one certificate.
type ValidateCertCertificate struct {
	Status ValidateCertStatus `wbxml:"ValidateCert:Status"`
}
