package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/easgate/easgate/statecache"
)

const deviceUsage = `usage: easgate device list -state DIR -user USER
       easgate device show -state DIR DEVICE
       easgate device wipe -state DIR -user USER [-account-only] DEVICE
       easgate device cancel-wipe -state DIR -user USER DEVICE

list prints a user's devices; show prints what a device told the server,
its users, their policy keys and wipe requests. wipe asks the device to
erase itself (or, with -account-only, only USER's data: EAS 16.1 devices
only) at its next request; cancel-wipe withdraws a request the device has
not carried out yet. USER is the name as the device logs in with it (see
show). DIR is the statecache directory of easgate serve, which must not be
running on it: the store locks its directory.
`

// runDevice runs "easgate device". Usage errors are *exitError with code 2.
func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, errors.New("device: missing list, show, wipe or cancel-wipe")}
	}
	sub := args[0]
	switch sub {
	case "list", "show", "wipe", "cancel-wipe":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, deviceUsage)
		return nil
	default:
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, fmt.Errorf("device: unknown subcommand %q", sub)}
	}
	fs := flag.NewFlagSet("easgate device "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deviceUsage) }
	dir := fs.String("state", "", "the statecache `DIR`ectory")
	user := fs.String("user", "", "the `USER` name as the device sends it")
	accountOnly := fs.Bool("account-only", false, "wipe only USER's data (EAS 16.1)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("device %s: %w", sub, err)}
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprint(stderr, deviceUsage)
		return &exitError{2, fmt.Errorf("device "+sub+": "+format, a...)}
	}
	if *dir == "" {
		return usageErr("-state DIR is required")
	}
	wantDevice := sub != "list"
	switch {
	case wantDevice && fs.NArg() != 1:
		return usageErr("want one DEVICE, have %d arguments", fs.NArg())
	case !wantDevice && fs.NArg() != 0:
		return usageErr("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case sub != "show" && *user == "":
		return usageErr("-user USER is required")
	case *accountOnly && sub != "wipe":
		return usageErr("-account-only goes with wipe only")
	}
	st, err := openState(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	dev := fs.Arg(0)
	a := statecache.Account{User: *user, Device: dev}
	switch sub {
	case "list":
		return listDevices(ctx, st, *user, stdout)
	case "show":
		return showDevice(ctx, st, dev, stdout)
	case "wipe":
		kind := statecache.WipeFull
		if *accountOnly {
			kind = statecache.WipeAccountOnly
		}
		if err := st.RequestWipe(ctx, a, kind, requester(), time.Now()); err != nil {
			return accountError("wipe", a, err)
		}
		fmt.Fprintf(stdout, "wipe of %s requested for %s; it happens at the device's next request\n", dev, *user)
	case "cancel-wipe":
		if err := st.CancelWipe(ctx, a); err != nil {
			return accountError("cancel-wipe", a, err)
		}
		fmt.Fprintf(stdout, "wipe request for %s on %s withdrawn\n", *user, dev)
	}
	return nil
}

// openState opens the statecache directory, explaining the usual reason it
// cannot be: a running server holds its lock.
func openState(dir string) (*statecache.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("statecache: dir: %w", err)
	}
	st, err := statecache.Open(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (is easgate serve running on %s? stop it first: the store locks its directory)", err, dir)
	}
	return st, nil
}

func accountError(sub string, a statecache.Account, err error) error {
	switch {
	case errors.Is(err, statecache.ErrNotFound):
		return fmt.Errorf("device %s: no user %q on device %q (easgate device show lists its users)", sub, a.User, a.Device)
	case errors.Is(err, statecache.ErrWipeAcknowledged):
		return fmt.Errorf("device %s: device %q already carried out the wipe", sub, a.Device)
	}
	return fmt.Errorf("device %s: %w", sub, err)
}

// requester names who asked for a wipe: the operating-system user.
func requester() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "easgate device wipe"
}

func listDevices(ctx context.Context, st *statecache.Store, user string, w io.Writer) error {
	ids, err := st.Devices(ctx, user)
	if err != nil {
		return fmt.Errorf("device list: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tTYPE\tPROTOCOL\tLAST SEEN\tPOLICY\tWIPE")
	for _, id := range ids {
		d, err := st.Device(ctx, id)
		if err != nil {
			return fmt.Errorf("device list: %s: %w", id, err)
		}
		info, err := st.Account(ctx, statecache.Account{User: user, Device: id})
		if err != nil {
			return fmt.Errorf("device list: %s: %w", id, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, d.Type, d.ProtocolVersion, stamp(d.LastSeen),
			policyText(info.Policy), wipeText(info.Wipe))
	}
	return tw.Flush()
}

func showDevice(ctx context.Context, st *statecache.Store, id string, w io.Writer) error {
	d, err := st.Device(ctx, id)
	if errors.Is(err, statecache.ErrNotFound) {
		return fmt.Errorf("device show: no device %q", id)
	}
	if err != nil {
		return fmt.Errorf("device show: %w", err)
	}
	users, err := st.Users(ctx, id)
	if err != nil {
		return fmt.Errorf("device show: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range [][2]string{
		{"device", d.ID}, {"type", d.Type}, {"user agent", d.UserAgent}, {"protocol", d.ProtocolVersion},
		{"model", d.Info.Model}, {"friendly name", d.Info.FriendlyName}, {"imei", d.Info.IMEI},
		{"os", d.Info.OS}, {"os language", d.Info.OSLanguage}, {"phone number", d.Info.PhoneNumber},
		{"mobile operator", d.Info.MobileOperator}, {"first seen", stamp(d.FirstSeen)}, {"last seen", stamp(d.LastSeen)},
	} {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
	}
	for _, u := range users {
		info, err := st.Account(ctx, statecache.Account{User: u, Device: id})
		if err != nil {
			return fmt.Errorf("device show: user %s: %w", u, err)
		}
		fmt.Fprintf(tw, "user:\t%s\n", u)
		fmt.Fprintf(tw, "  last seen:\t%s\n", stamp(info.LastSeen))
		fmt.Fprintf(tw, "  policy:\t%s\n", policyText(info.Policy))
		fmt.Fprintf(tw, "  wipe:\t%s\n", wipeText(info.Wipe))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func policyText(p statecache.Policy) string {
	switch {
	case p.Key == 0:
		return "none"
	case !p.Acknowledged:
		return fmt.Sprintf("key %d issued %s, not acknowledged", p.Key, stamp(p.IssuedAt))
	}
	return fmt.Sprintf("key %d acknowledged %s", p.Key, stamp(p.AcknowledgedAt))
}

func wipeText(wp statecache.Wipe) string {
	kind := "full"
	switch wp.Kind {
	case statecache.WipeNone:
		return "none"
	case statecache.WipeAccountOnly:
		kind = "account-only"
	}
	if wp.Acknowledged {
		return fmt.Sprintf("%s wipe done %s (requested by %s)", kind, stamp(wp.AcknowledgedAt), wp.RequestedBy)
	}
	return fmt.Sprintf("%s wipe pending since %s (requested by %s)", kind, stamp(wp.RequestedAt), wp.RequestedBy)
}
