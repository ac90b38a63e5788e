package testserver

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHAProxy checks what the multi-node tests rely on: requests alternate
// between the backends, also on one kept-alive connection, and a response
// is streamed as the backend writes it, not buffered until it ends.
func TestHAProxy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	backend := func(name string, optionsStatus int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodOptions:
				w.WriteHeader(optionsStatus)
			case r.URL.Query().Get("stream") != "":
				w.Write([]byte(name + " first\n"))
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
				w.Write([]byte("last\n"))
			default:
				w.Write([]byte(name))
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	// A backend that wants authentication (401) counts as up.
	b1, b2 := backend("b1", http.StatusOK), backend("b2", http.StatusUnauthorized)
	h := StartHAProxy(t, b1.Listener.Addr().String(), b2.Listener.Addr().String())

	c := &http.Client{Timeout: 30 * time.Second}
	var got []string
	for range 4 {
		resp, err := c.Post(h.URL+"/Microsoft-Server-ActiveSync", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if by, want := resp.Header.Get("X-Served-By"), map[string]string{"b1": "s1", "b2": "s2"}[string(b)]; by != want {
			t.Errorf("X-Served-By of %s's answer = %q, want %q", b, by, want)
		}
		got = append(got, string(b))
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("backends answering in turn = %v, want alternating", got)
		}
	}

	// The first line must arrive while the backend still holds the
	// response open: only then is it unbuffered.
	resp, err := c.Post(h.URL+"/Microsoft-Server-ActiveSync?stream=1", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasSuffix(line, " first\n") {
		t.Fatalf("first streamed line = %q, %v", line, err)
	}
	close(release)
	if rest, _ := io.ReadAll(br); string(rest) != "last\n" {
		t.Errorf("rest of the stream = %q, want %q", rest, "last\n")
	}
}
