package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
)

const devicesDir = "../../eas/testdata/devices"

func captures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(devicesDir + "/*/*.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s", devicesDir)
	}
	return files
}

// wbxml runs "easgate wbxml args..." with stdin and returns stdout, stderr
// and the error.
func wbxml(t *testing.T, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = runWBXML(context.Background(), args, bytes.NewReader(stdin), &o, &e)
	return o.Bytes(), e.Bytes(), err
}

// nonCanonical lists the captures our encoder writes differently (see
// nonCanonical in eas/devices_test.go for why).
var nonCanonical = map[string]bool{
	"thunderbird-tbsync/tbsync-14.0-getitemestimate-contacts.wbxml": true,
}

// TestWBXMLDecodeEncode renders every capture as XML and encodes that XML
// back: the bytes must be the capture's, or, for a capture in nonCanonical,
// must decode to the same XML.
func TestWBXMLDecodeEncode(t *testing.T) {
	for _, path := range captures(t) {
		rel, _ := filepath.Rel(devicesDir, path)
		name := filepath.ToSlash(rel)
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			xml, stderr, err := wbxml(t, nil, "decode", path)
			if err != nil || len(stderr) > 0 {
				t.Fatalf("decode %s = %v, stderr %q", path, err, stderr)
			}
			if !bytes.HasPrefix(xml, []byte("<?xml")) {
				t.Fatalf("decode %s: output does not start with an XML declaration: %.80q", path, xml)
			}
			bin, stderr, err := wbxml(t, xml, "encode", "-")
			if err != nil || len(stderr) > 0 {
				t.Fatalf("encode - = %v, stderr %q", err, stderr)
			}
			if bytes.Equal(bin, orig) {
				return
			}
			if !nonCanonical[name] {
				t.Fatalf("encode(decode(%s)) = % x\nwant % x", path, bin, orig)
			}
			xml2, _, err := wbxml(t, bin, "decode")
			if err != nil {
				t.Fatalf("decode of re-encoded %s = %v", path, err)
			}
			if !bytes.Equal(xml2, xml) {
				t.Errorf("decode(encode(decode(%s))) differs from decode(%[1]s)\n got: %s\nwant: %s", path, xml2, xml)
			}
		})
	}
}

func TestWBXMLOutputFile(t *testing.T) {
	path := filepath.Join(devicesDir, "ios/iphone-sync-email-synckey0.wbxml")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	xmlFile := filepath.Join(dir, "out.xml")
	binFile := filepath.Join(dir, "out.wbxml")
	// -o after the input name works too.
	if out, _, err := wbxml(t, nil, "decode", path, "-o", xmlFile); err != nil || len(out) > 0 {
		t.Fatalf("decode -o = %v, stdout %q", err, out)
	}
	if out, _, err := wbxml(t, nil, "encode", "-o", binFile, xmlFile); err != nil || len(out) > 0 {
		t.Fatalf("encode -o = %v, stdout %q", err, out)
	}
	got, err := os.ReadFile(binFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, orig) {
		t.Errorf("encode(decode(%s)) via files = % x, want % x", path, got, orig)
	}
}

// TestWBXMLErrors checks that bad input and bad usage fail with exit
// status 2 and a one-line message, and write nothing.
func TestWBXMLErrors(t *testing.T) {
	capture, err := os.ReadFile(filepath.Join(devicesDir, "ios/iphone-provision-initial.wbxml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      []byte
		syntax     bool   // the cause must be an *eas.SyntaxError
		wantSubstr string // in the message
	}{
		{name: "truncated", args: []string{"decode"}, stdin: capture[:len(capture)-3], syntax: true, wantSubstr: "offset"},
		{name: "header only", args: []string{"decode", "-"}, stdin: capture[:4], syntax: true, wantSubstr: "offset"},
		{name: "not wbxml", args: []string{"decode"}, stdin: []byte("<?xml version=\"1.0\"?>"), syntax: true, wantSubstr: "offset"},
		{name: "bad xml", args: []string{"encode"}, stdin: []byte("<AirSync:Sync xmlns:AirSync=\"AirSync:\">"), wantSubstr: "standard input"},
		{name: "unknown element", args: []string{"encode"}, stdin: []byte(`<AirSync:NoSuchTag xmlns:AirSync="AirSync:"/>`), wantSubstr: "standard input"},
		{name: "no mode", args: nil, wantSubstr: "decode or encode"},
		{name: "unknown mode", args: []string{"print"}, wantSubstr: "unknown mode"},
		{name: "two inputs", args: []string{"decode", "a", "b"}, wantSubstr: "more than one input"},
		{name: "bad flag", args: []string{"decode", "-x"}, wantSubstr: "-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := wbxml(t, tt.stdin, tt.args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("wbxml %q = %v, want an exit status 2 error", tt.args, err)
			}
			if len(stdout) > 0 {
				t.Errorf("wbxml %q wrote %q to stdout, want nothing", tt.args, stdout)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tt.wantSubstr) {
				t.Errorf("wbxml %q error = %q, want one line containing %q", tt.args, msg, tt.wantSubstr)
			}
			var se *eas.SyntaxError
			if tt.syntax && !errors.As(err, &se) {
				t.Errorf("wbxml %q error = %v, want an *eas.SyntaxError cause", tt.args, err)
			}
		})
	}
}

// TestWBXMLProcess runs the real main, in a child process, on a truncated
// capture: the process must exit 2 with one line on stderr.
func TestWBXMLProcess(t *testing.T) {
	if os.Getenv("EASGATE_TEST_MAIN") == "1" {
		// The child: act as "easgate wbxml decode".
		os.Args = []string{"easgate", "wbxml", "decode"}
		main()
		os.Exit(0)
	}
	capture, err := os.ReadFile(filepath.Join(devicesDir, "ios/iphone-sync-email-synckey0.wbxml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWBXMLProcess$")
	cmd.Env = append(os.Environ(), "EASGATE_TEST_MAIN=1")
	cmd.Stdin = bytes.NewReader(capture[:20])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("easgate wbxml decode <truncated: %v, want exit status 2; stderr %q", err, stderr.Bytes())
	}
	// The decoder's own wording may change; the offset must not.
	const prefix = "easgate: wbxml decode: standard input: eas: wbxml syntax error at offset 20: "
	got := stderr.String()
	if !strings.HasPrefix(got, prefix) || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("stderr = %q, want one line starting %q", got, prefix)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout = %q, want nothing", stdout.Bytes())
	}
}
