package metrics

import (
	"runtime"
	"runtime/debug"
	"strconv"
)

// Build says what binary runs, from the information the Go toolchain
// stamps into it (runtime/debug.ReadBuildInfo).
type Build struct {
	Version   string // module version ("v1.2.3"), or "devel" for a build from a work tree
	Revision  string // VCS commit; "" when built without VCS information
	Time      string // commit time, RFC 3339; "" when unknown
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string // the toolchain, "go1.26.0"
}

// ReadBuild returns the Build of the running binary.
func ReadBuild() Build {
	b := Build{Version: "devel", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func (b Build) modified() string { return strconv.FormatBool(b.Modified) }
