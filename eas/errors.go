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
	return &SchemaError{Command: cmd, Msg: fmt.Sprintf(format, args...)}
}
