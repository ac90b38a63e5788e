package eas

import "fmt"

// SchemaError reports a well-formed WBXML document whose elements do not
// follow the command's schema: a missing required element, a value out of
// range, an element from another protocol version. Gateways answer it with
// status 103 (InvalidXML), MS-ASCMD 2.2.2.
type SchemaError struct {
	Command string // "Sync"
	Msg     string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("eas: invalid %s request: %s", e.Command, e.Msg)
}

func schemaErrorf(cmd, format string, args ...any) error {
	for i, a := range args {
		switch a := a.(type) {
		case string:
			args[i] = clip(a)
		case []byte:
			args[i] = clip(string(a[:min(len(a), maxQuoted+1)]))
		}
	}
	return &SchemaError{Command: cmd, Msg: fmt.Sprintf(format, args...)}
}

// maxQuoted bounds the bytes of a client's value quoted in an error: a
// %q of a 3 KB value of control bytes is 12 KB, allocated while decoding
// without being charged to the document (FuzzDecodeAlloc found it with
// a ValidateCert whose CheckCRL was 3 KB of 0x9c).
const maxQuoted = 64

// clip returns s cut to maxQuoted bytes, marked as cut.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "…"
}
