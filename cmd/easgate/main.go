// Command easgate is an Exchange ActiveSync server in front of JMAP, IMAP
// with CalDAV/CardDAV, and Microsoft Graph stores.
//
// Usage:
//
//	easgate serve -config FILE [-listen ADDR]
//	easgate demo [-listen ADDR] [-state DIR] [-mail-every D] [-policy none|allow|force] [-v]
//	easgate wbxml decode|encode [-o FILE] [FILE|-]
//	easgate device list|show|wipe|resync|block|trace|... -state DIR ...
//	easgate user password|revoke -state DIR USER
//	easgate state migrate|version|export|import -config FILE|-dir DIR|-url URL
//	easgate graph-emulator [-listen ADDR]
//	easgate check [-user U] [-ca FILE] URL|ADDRESS
//	easgate version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: easgate <command> [arguments]

commands:
  serve           serve EAS over HTTP (easgate serve -h for flags)
  demo            serve a made-up mailbox to try a phone with (easgate demo -h)
  wbxml           convert WBXML to XML and back (easgate wbxml -h)
  device          list, wipe, resync, block and trace devices, live or offline (easgate device -h)
  user            issue and revoke device passwords for the Graph store (easgate user -h)
  state           migrate, export and import the device state, e.g. into PostgreSQL (easgate state -h)
  graph-emulator  serve an in-memory Microsoft Graph to try the Graph store (easgate graph-emulator -h)
  check           check a server as a phone would (easgate check -h)
  version         print the version and build information
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "easgate:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// run runs the easgate command line args (without the program name). Usage
// errors are *exitError with code 2.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command")}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "wbxml":
		return runWBXML(ctx, args[1:], stdin, stdout, stderr)
	case "device":
		return runDevice(ctx, args[1:], stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], stdout, stderr)
	case "state":
		return runState(ctx, args[1:], stdin, stdout, stderr) // state.go
	case "graph-emulator":
		return runGraphEmulator(ctx, args[1:], stdout, stderr)
	case "version":
		return runVersion(stdout) // version.go
	case "check":
		return runCheck(ctx, args[1:], stdin, stdout, stderr) // check.go
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", args[0])}
}
