package eas

import (
	"fmt"
	"strconv"
	"strings"
)

// ProtocolVersion is an EAS protocol version as major*10+minor, so that
// versions compare with < and >: V25 < V120 < V121 < V140 < V141 < V160 < V161.
// MS-ASHTTP 2.2.1.1.2.4 (MS-ASProtocolVersion header).
type ProtocolVersion uint16

// The protocol versions easgate speaks.
const (
	V25  ProtocolVersion = 25
	V120 ProtocolVersion = 120
	V121 ProtocolVersion = 121
	V140 ProtocolVersion = 140
	V141 ProtocolVersion = 141
	V160 ProtocolVersion = 160
	V161 ProtocolVersion = 161
)

// AllVersions lists every version easgate can speak, oldest first.
var AllVersions = []ProtocolVersion{V25, V120, V121, V140, V141, V160, V161}

// String formats v as the header spells it ("2.5", "14.1").
func (v ProtocolVersion) String() string {
	return strconv.Itoa(int(v/10)) + "." + strconv.Itoa(int(v%10))
}

// ParseVersion parses a version as sent in MS-ASProtocolVersion ("14.1").
// Only versions in AllVersions are accepted.
func ParseVersion(s string) (ProtocolVersion, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok || len(min) != 1 {
		return 0, fmt.Errorf("eas: bad protocol version %q", s)
	}
	m, err := strconv.Atoi(maj)
	if err != nil || m < 0 || m > 99 || min[0] < '0' || min[0] > '9' {
		return 0, fmt.Errorf("eas: bad protocol version %q", s)
	}
	v := ProtocolVersion(m*10 + int(min[0]-'0'))
	if !v.Known() {
		return 0, fmt.Errorf("eas: unsupported protocol version %q", s)
	}
	return v, nil
}

// Known reports whether v is one of AllVersions.
func (v ProtocolVersion) Known() bool {
	for _, k := range AllVersions {
		if k == v {
			return true
		}
	}
	return false
}
