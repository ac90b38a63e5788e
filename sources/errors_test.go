package sources_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/easgate/easgate/sources"
)

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"sentinel", sources.ErrNotFound, false},
		{"marked", sources.MarkTemporary(errors.New("busy")), true},
		{"marked and wrapped", fmt.Errorf("jmap: Email/get: %w", sources.MarkTemporary(sources.ErrAuth)), true},
		{"net timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, true},
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sources.Temporary(tt.err); got != tt.want {
				t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if err := sources.MarkTemporary(sources.ErrAuth); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("errors.Is(MarkTemporary(ErrAuth), ErrAuth) = false")
	}
	if err := sources.MarkTemporary(nil); err != nil {
		t.Errorf("MarkTemporary(nil) = %v, want nil", err)
	}
}
