package statecache

import (
	"fmt"
	"strings"
	"testing"
)

// TestRSS measures the resident memory of a fresh process holding a store,
// empty and with 10,000 devices, with Badger's default options and with
// ours. Each runs in its own child process, so one's heap does not count
// against another. Figures are in the test log (go test -v -run RSS).
func TestRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tests := []struct {
		mode  string
		maxMB int // anonymous RSS of the reopened store; 0: no limit
	}{
		{"rss-default-empty", 0},
		{"rss-default-10k", 0},
		{"rss-tuned-empty", 40},
		{"rss-tuned-10k", 60},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.mode, "rss-"), func(t *testing.T) {
			cmd, lines := startChild(t, tt.mode, t.TempDir())
			var out string
			for lines.Scan() {
				out = lines.Text()
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v", err)
			}
			var v [7]int
			if _, err := fmt.Sscan(out, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]); err != nil {
				t.Fatalf("child printed %q: %v", out, err)
			}
			t.Logf("RSS anon+file MB: opened %d+%d, filled %d+%d, reopened and read %d+%d; on disk %d MB",
				v[0]>>10, v[1]>>10, v[2]>>10, v[3]>>10, v[4]>>10, v[5]>>10, v[6]>>10)
			if tt.maxMB > 0 && v[4]>>10 > tt.maxMB {
				t.Errorf("anonymous RSS after reopening = %d MB, want at most %d MB", v[4]>>10, tt.maxMB)
			}
		})
	}
}
