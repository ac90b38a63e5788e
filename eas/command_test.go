package eas

import "testing"

func TestCommandCodes(t *testing.T) {
	// MS-ASHTTP 2.2.1.1.1.1.2; 5 to 8 are unassigned.
	want := map[byte]Command{
		0: CmdSync, 1: CmdSendMail, 2: CmdSmartForward, 3: CmdSmartReply, 4: CmdGetAttachment,
		9: CmdFolderSync, 10: CmdFolderCreate, 11: CmdFolderDelete, 12: CmdFolderUpdate,
		13: CmdMoveItems, 14: CmdGetItemEstimate, 15: CmdMeetingResponse, 16: CmdSearch,
		17: CmdSettings, 18: CmdPing, 19: CmdItemOperations, 20: CmdProvision,
		21: CmdResolveRecipients, 22: CmdValidateCert, 23: CmdFind,
	}
	for b := 0; b < 256; b++ {
		c, err := CommandByCode(byte(b))
		w, ok := want[byte(b)]
		if c != w || (err == nil) != ok {
			t.Errorf("CommandByCode(%d) = %v, %v; want %v", b, c, err, w)
		}
		if ok {
			if code, has := w.Code(); !has || code != byte(b) {
				t.Errorf("%v.Code() = %d, %v; want %d", w, code, has, b)
			}
		}
	}
	if _, has := CmdGetHierarchy.Code(); has {
		t.Error("GetHierarchy has a base64 code; MS-ASHTTP gives it none")
	}
}

func TestParseCommand(t *testing.T) {
	for _, c := range AllCommands {
		for _, name := range []string{c.String(), "x" + c.String()} {
			got, err := ParseCommand(name)
			if name[0] == 'x' {
				if err == nil {
					t.Errorf("ParseCommand(%q) = %v, want an error", name, got)
				}
				continue
			}
			if err != nil || got != c {
				t.Errorf("ParseCommand(%q) = %v, %v; want %v", name, got, err, c)
			}
		}
	}
	if got, err := ParseCommand("foldersync"); got != CmdFolderSync || err != nil {
		t.Errorf(`ParseCommand("foldersync") = %v, %v; want FolderSync`, got, err)
	}
	if len(AllCommands) != 21 {
		t.Errorf("len(AllCommands) = %d, want 21", len(AllCommands))
	}
}

func TestCommandSupports(t *testing.T) {
	tests := []struct {
		cmd  Command
		v    ProtocolVersion
		want bool
	}{
		{CmdSync, V25, true},
		{CmdSync, V161, true},
		{CmdGetAttachment, V121, true},
		{CmdGetAttachment, V140, false},
		{CmdGetHierarchy, V25, true},
		{CmdGetHierarchy, V140, false},
		{CmdSettings, V25, false},
		{CmdSettings, V120, true},
		{CmdItemOperations, V25, false},
		{CmdItemOperations, V120, true},
		{CmdFind, V160, false},
		{CmdFind, V161, true},
		{CmdSync, 130, false},
		{Command(0), V161, false},
	}
	for _, tt := range tests {
		if got := tt.cmd.Supports(tt.v); got != tt.want {
			t.Errorf("%v.Supports(%v) = %v, want %v", tt.cmd, tt.v, got, tt.want)
		}
	}
}

func TestStatusErrorString(t *testing.T) {
	e := &StatusError{Status: StatusInvalidWBXML, Scope: ScopeCollection}
	if got, want := e.Error(), "eas: status 102 (collection)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
