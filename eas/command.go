package eas

import (
	"fmt"
	"strings"
)

// Command is an EAS command, as named by the Cmd URI parameter of
// MS-ASHTTP 2.2.1.1.1.2.1 and specified in MS-ASCMD 2.2.1. The zero value is
// not a command.
type Command uint8

// The commands of MS-ASCMD 2.2.1 that a client names in the request URI.
// Autodiscover is not among them: it has its own URL.
const (
	CmdSync Command = iota + 1
	CmdSendMail
	CmdSmartForward
	CmdSmartReply
	CmdGetAttachment
	CmdGetHierarchy
	CmdFolderSync
	CmdFolderCreate
	CmdFolderDelete
	CmdFolderUpdate
	CmdMoveItems
	CmdGetItemEstimate
	CmdMeetingResponse
	CmdSearch
	CmdSettings
	CmdPing
	CmdItemOperations
	CmdProvision
	CmdResolveRecipients
	CmdValidateCert
	CmdFind
	numCommands
)

// noCode marks a command that has no code in the base64 query form.
const noCode = -1

type commandInfo struct {
	name     string
	code     int // MS-ASHTTP 2.2.1.1.1.1.2, or noCode
	min, max ProtocolVersion
}

// commands lists each command's wire name, base64 code and the versions whose
// "Protocol Versions" table in MS-ASCMD 2.2.1 marks it supported.
var commands = [numCommands]commandInfo{
	CmdSync:              {"Sync", 0, V25, V161},
	CmdSendMail:          {"SendMail", 1, V25, V161},
	CmdSmartForward:      {"SmartForward", 2, V25, V161},
	CmdSmartReply:        {"SmartReply", 3, V25, V161},
	CmdGetAttachment:     {"GetAttachment", 4, V25, V121}, // replaced by ItemOperations Fetch in 14.0
	CmdGetHierarchy:      {"GetHierarchy", noCode, V25, V121},
	CmdFolderSync:        {"FolderSync", 9, V25, V161},
	CmdFolderCreate:      {"FolderCreate", 10, V25, V161},
	CmdFolderDelete:      {"FolderDelete", 11, V25, V161},
	CmdFolderUpdate:      {"FolderUpdate", 12, V25, V161},
	CmdMoveItems:         {"MoveItems", 13, V25, V161},
	CmdGetItemEstimate:   {"GetItemEstimate", 14, V25, V161},
	CmdMeetingResponse:   {"MeetingResponse", 15, V25, V161},
	CmdSearch:            {"Search", 16, V25, V161},
	CmdSettings:          {"Settings", 17, V120, V161},
	CmdPing:              {"Ping", 18, V25, V161},
	CmdItemOperations:    {"ItemOperations", 19, V120, V161},
	CmdProvision:         {"Provision", 20, V25, V161},
	CmdResolveRecipients: {"ResolveRecipients", 21, V25, V161},
	CmdValidateCert:      {"ValidateCert", 22, V25, V161},
	CmdFind:              {"Find", 23, V161, V161},
}

// AllCommands lists every Command in the order of MS-ASHTTP's code table.
var AllCommands = func() []Command {
	cs := make([]Command, 0, numCommands-1)
	for c := CmdSync; c < numCommands; c++ {
		cs = append(cs, c)
	}
	return cs
}()

func (c Command) valid() bool { return c > 0 && c < numCommands }

// String returns the command's name as the Cmd URI parameter spells it.
func (c Command) String() string {
	if c.valid() {
		return commands[c].name
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// Code returns the command's code in the base64 query form
// (MS-ASHTTP 2.2.1.1.1.1.2); ok is false for a command that has none.
func (c Command) Code() (code byte, ok bool) {
	if !c.valid() || commands[c].code == noCode {
		return 0, false
	}
	return byte(commands[c].code), true
}

// Supports reports whether c exists in protocol version v (MS-ASCMD 2.2.1).
func (c Command) Supports(v ProtocolVersion) bool {
	return c.valid() && v.Known() && commands[c].min <= v && v <= commands[c].max
}

// ParseCommand returns the command a Cmd URI parameter names. The match
// ignores case, as Exchange does.
func ParseCommand(name string) (Command, error) {
	for c := CmdSync; c < numCommands; c++ {
		if strings.EqualFold(commands[c].name, name) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("eas: unknown command %q", name)
}

// CommandByCode returns the command of a base64 query's command code
// (MS-ASHTTP 2.2.1.1.1.1.2).
func CommandByCode(b byte) (Command, error) {
	for c := CmdSync; c < numCommands; c++ {
		if commands[c].code == int(b) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("eas: unknown command code %d", b)
}
