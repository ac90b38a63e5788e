package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/easgate/easgate/eas"
)

// exitError is an error that run returns with the process exit status main
// should use; main prints err and exits with code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

const wbxmlUsage = `usage: easgate wbxml decode [-o FILE] [FILE|-]
       easgate wbxml encode [-o FILE] [FILE|-]

decode prints a WBXML document (an EAS request or response body) as XML;
encode turns that XML back into WBXML. Input is FILE or, without it or with
"-", standard input; output goes to standard output or to -o FILE.
Malformed input exits with status 2.
`

// runWBXML runs "easgate wbxml". args are the arguments after "wbxml". Bad
// usage and malformed input return an *exitError with code 2 and a one-line
// message; other failures (reading, writing) return plain errors.
func runWBXML(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, wbxmlUsage)
		return &exitError{2, errors.New("wbxml: missing decode or encode")}
	}
	mode := args[0]
	var convert func(w io.Writer, r io.Reader) error
	switch mode {
	case "decode":
		convert = func(w io.Writer, r io.Reader) error { return eas.DecodeXML(w, r, nil) }
	case "encode":
		convert = eas.EncodeXML
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, wbxmlUsage)
		return nil
	default:
		fmt.Fprint(stderr, wbxmlUsage)
		return &exitError{2, fmt.Errorf("wbxml: unknown mode %q", mode)}
	}

	fs := flag.NewFlagSet("easgate wbxml "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, wbxmlUsage) }
	out := fs.String("o", "", "write the output to `FILE` instead of standard output")
	// Accept -o before or after the input name.
	var names []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return &exitError{2, fmt.Errorf("wbxml %s: %w", mode, err)}
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(names) > 1 {
		return &exitError{2, fmt.Errorf("wbxml %s: more than one input: %s", mode, strings.Join(names, " "))}
	}

	name := "-"
	if len(names) == 1 {
		name = names[0]
	}
	in, err := readInput(name, stdin)
	if err != nil {
		return fmt.Errorf("wbxml %s: %w", mode, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Convert into memory first: on bad input nothing is written, and every
	// error from convert is about the input.
	var buf bytes.Buffer
	if err := convert(&buf, bytes.NewReader(in)); err != nil {
		label := name
		if name == "-" {
			label = "standard input"
		}
		return &exitError{2, fmt.Errorf("wbxml %s: %s: %w", mode, label, err)}
	}

	if *out == "" || *out == "-" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("wbxml %s: %w", mode, err)
	}
	return nil
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}
