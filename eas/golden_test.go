package eas

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/<command>/*.wbxml (and canonical .xml) from the .xml files")

var caseVersion = regexp.MustCompile(`-v(25|120|121|140|141|160|161)(\b|-|$)`)

// checkGolden runs every testdata/<dir>/*.xml: the XML encodes to exactly
// <case>.wbxml (written by -update, which also rewrites the .xml in the
// canonical form DecodeXML prints), the .wbxml decodes back to the same
// XML, and newValue(root), a pointer to the command's typed struct or nil,
// unmarshals the .wbxml and marshals back to identical bytes. If that
// value has Validate, it must pass at 16.1 or at the version a "-v141"
// part of the case name gives, and fail for cases named "invalid-...".
func checkGolden(t *testing.T, dir string, newValue func(root Tag) any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden files in testdata/%s", dir)
	}
	for _, xf := range files {
		name := strings.TrimSuffix(filepath.Base(xf), ".xml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(xf)
			if err != nil {
				t.Fatal(err)
			}
			var wb bytes.Buffer
			if err := EncodeXML(&wb, bytes.NewReader(src)); err != nil {
				t.Fatalf("EncodeXML(%s) = %v", xf, err)
			}
			wf := strings.TrimSuffix(xf, ".xml") + ".wbxml"
			var canon bytes.Buffer
			if err := DecodeXML(&canon, bytes.NewReader(wb.Bytes()), nil); err != nil {
				t.Fatalf("DecodeXML(EncodeXML(%s)) = %v", xf, err)
			}
			if *update {
				if err := os.WriteFile(wf, wb.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(xf, canon.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				src = canon.Bytes()
			}
			want, err := os.ReadFile(wf)
			if err != nil {
				t.Fatalf("%v (run go test ./eas -update)", err)
			}
			if !bytes.Equal(wb.Bytes(), want) {
				t.Errorf("EncodeXML(%s) = % x\nwant % x", xf, wb.Bytes(), want)
			}
			if !bytes.Equal(canon.Bytes(), src) {
				t.Errorf("DecodeXML(%s) =\n%s\nwant\n%s", wf, canon.Bytes(), src)
			}
			if newValue == nil {
				return
			}
			toks := tokens(t, want)
			v := newValue(toks[0].(StartTag).Tag)
			if v == nil {
				return
			}
			if err := Unmarshal(want, v, nil); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", wf, err)
			}
			got, err := Marshal(v)
			if err != nil {
				t.Fatalf("Marshal(Unmarshal(%s)) = %v", wf, err)
			}
			if !bytes.Equal(got, want) {
				var gx bytes.Buffer
				DecodeXML(&gx, bytes.NewReader(got), nil)
				t.Errorf("Marshal(Unmarshal(%s)) =\n%s\nwant\n%s", wf, gx.Bytes(), src)
			}
			val, ok := v.(interface{ Validate(ProtocolVersion) error })
			if !ok {
				return
			}
			ver := V161
			if m := caseVersion.FindStringSubmatch(name); m != nil {
				n, _ := strconv.Atoi(m[1])
				ver = ProtocolVersion(n)
			}
			err = val.Validate(ver)
			if invalid := strings.HasPrefix(name, "invalid-"); invalid && err == nil {
				t.Errorf("Validate(%v) of %s = nil, want an error", ver, name)
			} else if !invalid && err != nil {
				t.Errorf("Validate(%v) of %s = %v", ver, name, err)
			}
		})
	}
}
