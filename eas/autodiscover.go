package eas

import (
	"encoding/xml"
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

// AutodiscoverError is an Error element, MS-ASCMD 2.2.3.63. Inside Action
// it carries Status (1 protocol error, 2 the directory could not be
// reached); directly inside Response it carries the Time and Id attributes
// and an ErrorCode.
type AutodiscoverError struct {
	Time      string `xml:"Time,attr,omitempty"`
	ID        string `xml:"Id,attr,omitempty"`
	Status    int    `xml:"Status,omitempty"`
	ErrorCode int    `xml:"ErrorCode,omitempty"`
	Message   string `xml:"Message,omitempty"`
	DebugData string `xml:"DebugData"`
}
