package main

import (
	"fmt"
	"io"

	"github.com/easgate/easgate/metrics"
)

// runVersion prints what binary this is: the module version, then the
// commit, its time and whether the work tree was modified when the
// toolchain recorded them, then the Go version. easgate_build_info on
// /metrics carries the same.
func runVersion(stdout io.Writer) error {
	b := metrics.ReadBuild()
	fmt.Fprintln(stdout, "easgate", b.Version)
	if b.Revision != "" {
		mod := ""
		if b.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(stdout, "revision %s%s\n", b.Revision, mod)
	}
	if b.Time != "" {
		fmt.Fprintln(stdout, "time", b.Time)
	}
	fmt.Fprintln(stdout, "go", b.GoVersion)
	return nil
}
