package eas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Autodiscover namespaces, MS-ASCMD 2.2.1.1. Autodiscover is plain XML,
// posted to /autodiscover/autodiscover.xml, not WBXML.
const (
	AutodiscoverRequestNS        = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	AutodiscoverResponseNS       = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	AutodiscoverMobileResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)

// Autodiscover error codes of a Response's Error, MS-ASCMD 2.2.3.64.
const (
	AutodiscoverInvalidRequest   = 600 // the request is not an Autodiscover request
	AutodiscoverProviderNotFound = 601 // no provider for AcceptableResponseSchema
)

// Server types of an Autodiscover Server, MS-ASCMD 2.2.3.186.1.
const (
	AutodiscoverMobileSync = "MobileSync" // the EAS endpoint
	AutodiscoverCertEnroll = "CertEnroll" // the certificate enrollment endpoint
)

// AutodiscoverRequest is the body of an Autodiscover request, MS-ASCMD
// 2.2.1.1. The root element is matched in any namespace, since some clients
// send Outlook's request namespace.
type AutodiscoverRequest struct {
	XMLName xml.Name                // Autodiscover, in any namespace
	Request AutodiscoverRequestBody `xml:"Request"`
}

// AutodiscoverRequestBody is the Request element.
type AutodiscoverRequestBody struct {
	EMailAddress             string `xml:"EMailAddress"`
	AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
}

// NewAutodiscoverRequest returns a request for address in the mobilesync
// schema.
func NewAutodiscoverRequest(address string) *AutodiscoverRequest {
	return &AutodiscoverRequest{
		XMLName: xml.Name{Space: AutodiscoverRequestNS, Local: "Autodiscover"},
		Request: AutodiscoverRequestBody{EMailAddress: address, AcceptableResponseSchema: AutodiscoverMobileResponseNS},
	}
}

// Validate checks that r names an address. An AcceptableResponseSchema
// other than the mobilesync one is not a schema error: the server answers
// it with AutodiscoverProviderNotFound (see WantsMobileSync).
func (r *AutodiscoverRequest) Validate() error {
	if r.XMLName.Local != "Autodiscover" {
		return schemaErrorf("Autodiscover", "root element %q", r.XMLName.Local)
	}
	a := strings.TrimSpace(r.Request.EMailAddress)
	if a == "" {
		return schemaErrorf("Autodiscover", "no EMailAddress")
	}
	if at := strings.LastIndexByte(a, '@'); at <= 0 || at == len(a)-1 {
		return schemaErrorf("Autodiscover", "EMailAddress %q is not an address", a)
	}
	return nil
}

// WantsMobileSync reports whether r accepts the mobilesync response schema.
func (r *AutodiscoverRequest) WantsMobileSync() bool {
	return strings.TrimSpace(r.Request.AcceptableResponseSchema) == AutodiscoverMobileResponseNS
}

// AutodiscoverResponse is the body of an Autodiscover response, MS-ASCMD
// 2.2.1.1: the outer element in the generic response namespace, Response in
// the mobilesync one.
type AutodiscoverResponse struct {
	XMLName  xml.Name                 `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response AutodiscoverResponseBody `xml:"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006 Response"`
}

// AutodiscoverResponseBody is the Response element: the user and an Action,
// or an Error when the request itself could not be served.
type AutodiscoverResponseBody struct {
	Culture string              `xml:"Culture,omitempty"` // "en:us"
	User    *AutodiscoverUser   `xml:"User"`
	Action  *AutodiscoverAction `xml:"Action"`
	Error   *AutodiscoverError  `xml:"Error"`
}

// AutodiscoverUser is the User element, MS-ASCMD 2.2.3.185.
type AutodiscoverUser struct {
	DisplayName  string `xml:"DisplayName,omitempty"`
	EMailAddress string `xml:"EMailAddress"`
}

// AutodiscoverAction is the Action element, MS-ASCMD 2.2.3.4: the servers
// to use, an address to try instead, or an error.
type AutodiscoverAction struct {
	Settings *AutodiscoverSettings `xml:"Settings"`
	Redirect string                `xml:"Redirect,omitempty"`
	Error    *AutodiscoverError    `xml:"Error"`
}

// AutodiscoverSettings lists servers, MS-ASCMD 2.2.3.161.
type AutodiscoverSettings struct {
	Server []AutodiscoverServer `xml:"Server"`
}

// AutodiscoverServer is one endpoint, MS-ASCMD 2.2.3.157. Name may be
// empty; ServerData names a certificate template for CertEnroll.
type AutodiscoverServer struct {
	Type       string `xml:"Type"`
	URL        string `xml:"Url"`
	Name       string `xml:"Name"`
	ServerData string `xml:"ServerData,omitempty"`
}

// AutodiscoverStatusProtocolError is the Status of an Action's Error,
// MS-ASCMD 2.2.3.177.1; 1 (success) is never sent.
const AutodiscoverStatusProtocolError = 2

// AutodiscoverError is an Error element, MS-ASCMD 2.2.3.63. Inside Action
// it carries a Status (AutodiscoverStatusProtocolError); directly inside
// Response it carries the Time and Id attributes and an ErrorCode.
type AutodiscoverError struct {
	Time      string `xml:"Time,attr,omitempty"`
	ID        string `xml:"Id,attr,omitempty"`
	Status    int    `xml:"Status,omitempty"`
	ErrorCode int    `xml:"ErrorCode,omitempty"`
	Message   string `xml:"Message,omitempty"`
	DebugData string `xml:"DebugData"`
}

// AutodiscoverMaxSize is the largest Autodiscover document
// ParseAutodiscoverRequest and ParseAutodiscoverResponse read when given no
// limit. A request is a few hundred bytes; a response with a redirect
// chain of servers a few kilobytes.
const AutodiscoverMaxSize = 64 << 10

// autodiscoverMaxDepth bounds element nesting: the deepest element of
// either schema (Autodiscover/Response/Action/Settings/Server/Url) is at
// depth 6.
const autodiscoverMaxDepth = 12

// ErrAutodiscoverTooLarge is returned for a document past the size limit.
var ErrAutodiscoverTooLarge = errors.New("eas: autodiscover: document too large")

// ParseAutodiscoverRequest reads an Autodiscover request of at most max
// bytes (0: AutodiscoverMaxSize) from r and validates it. A document type
// declaration, entity or processing instruction is refused, so nothing is
// ever fetched or expanded; a request in another schema (Outlook's) is
// parsed, and WantsMobileSync tells it apart.
func ParseAutodiscoverRequest(r io.Reader, max int64) (*AutodiscoverRequest, error) {
	req := new(AutodiscoverRequest)
	if err := parseAutodiscover(r, max, req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// ParseAutodiscoverResponse reads an Autodiscover response of at most max
// bytes (0: AutodiscoverMaxSize) from r, with the limits of
// ParseAutodiscoverRequest. It checks the two namespaces, so an Outlook
// schema answer is an error rather than an empty response.
func ParseAutodiscoverResponse(r io.Reader, max int64) (*AutodiscoverResponse, error) {
	resp := new(AutodiscoverResponse)
	if err := parseAutodiscover(r, max, resp); err != nil {
		return nil, err
	}
	// encoding/xml only checks the namespace of the root; a Response in
	// another namespace leaves the body empty.
	if resp.Response == (AutodiscoverResponseBody{}) {
		return nil, schemaErrorf("Autodiscover", "no Response in the mobilesync schema")
	}
	return resp, nil
}

// parseAutodiscover checks the document's tokens for what plain XML must
// not contain here, then unmarshals it into v.
func parseAutodiscover(r io.Reader, max int64, v any) error {
	if max <= 0 {
		max = AutodiscoverMaxSize
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return fmt.Errorf("eas: autodiscover: %w", err)
	}
	if int64(len(b)) > max {
		return ErrAutodiscoverTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return schemaErrorf("Autodiscover", "%v", err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			if depth++; depth > autodiscoverMaxDepth {
				return schemaErrorf("Autodiscover", "elements nested deeper than %d", autodiscoverMaxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return schemaErrorf("Autodiscover", "directive <!%.20s> refused", t)
		case xml.ProcInst:
			if t.Target != "xml" {
				return schemaErrorf("Autodiscover", "processing instruction %q refused", t.Target)
			}
		}
	}
	if roots != 1 {
		return schemaErrorf("Autodiscover", "%d root elements", roots)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return schemaErrorf("Autodiscover", "%v", err)
	}
	return nil
}

// AutodiscoverV2Response is the JSON answer of Autodiscover v2
// (GET /autodiscover/autodiscover.json/v1.0/{address}?Protocol=...): the
// URL of the named protocol's endpoint for the address.
type AutodiscoverV2Response struct {
	Protocol string `json:"Protocol"` // "ActiveSync" or "AutodiscoverV1"
	URL      string `json:"Url"`
}

// AutodiscoverV2Error is the JSON body of a refused Autodiscover v2
// request.
type AutodiscoverV2Error struct {
	ErrorCode    string `json:"ErrorCode"` // "InvalidProtocol", "InvalidRequest", "NotFound"
	ErrorMessage string `json:"ErrorMessage"`
}

// Autodiscover v2 protocol names, as the Protocol query parameter and the
// answer's Protocol carry them.
const (
	AutodiscoverV2ActiveSync = "ActiveSync"
	AutodiscoverV2V1         = "AutodiscoverV1"
)
