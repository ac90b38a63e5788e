package eas

import "strconv"

// Status is the value of a command's Status element. Values 1 to 100 mean
// something different in each command (MS-ASCMD 2.2.3.177); values from
// 101 up are the common codes of MS-ASCMD 2.2.2, which any command that has a
// Status element may return in protocol version 14.0 and later.
type Status int

// The common status codes, MS-ASCMD 2.2.2. 157 to 159 are unassigned.
const (
	StatusInvalidContent                                  Status = 101
	StatusInvalidWBXML                                    Status = 102
	StatusInvalidXML                                      Status = 103
	StatusInvalidDateTime                                 Status = 104
	StatusInvalidCombinationOfIDs                         Status = 105
	StatusInvalidIDs                                      Status = 106
	StatusInvalidMIME                                     Status = 107
	StatusDeviceIDMissingOrInvalid                        Status = 108
	StatusDeviceTypeMissingOrInvalid                      Status = 109
	StatusServerError                                     Status = 110
	StatusServerErrorRetryLater                           Status = 111
	StatusActiveDirectoryAccessDenied                     Status = 112
	StatusMailboxQuotaExceeded                            Status = 113
	StatusMailboxServerOffline                            Status = 114
	StatusSendQuotaExceeded                               Status = 115
	StatusMessageRecipientUnresolved                      Status = 116
	StatusMessageReplyNotAllowed                          Status = 117
	StatusMessagePreviouslySent                           Status = 118
	StatusMessageHasNoRecipient                           Status = 119
	StatusMailSubmissionFailed                            Status = 120
	StatusMessageReplyFailed                              Status = 121
	StatusAttachmentIsTooLarge                            Status = 122
	StatusUserHasNoMailbox                                Status = 123
	StatusUserCannotBeAnonymous                           Status = 124
	StatusUserPrincipalCouldNotBeFound                    Status = 125
	StatusUserDisabledForSync                             Status = 126
	StatusUserOnNewMailboxCannotSync                      Status = 127
	StatusUserOnLegacyMailboxCannotSync                   Status = 128
	StatusDeviceIsBlockedForThisUser                      Status = 129
	StatusAccessDenied                                    Status = 130
	StatusAccountDisabled                                 Status = 131
	StatusSyncStateNotFound                               Status = 132
	StatusSyncStateLocked                                 Status = 133
	StatusSyncStateCorrupt                                Status = 134
	StatusSyncStateAlreadyExists                          Status = 135
	StatusSyncStateVersionInvalid                         Status = 136
	StatusCommandNotSupported                             Status = 137
	StatusVersionNotSupported                             Status = 138
	StatusDeviceNotFullyProvisionable                     Status = 139
	StatusRemoteWipeRequested                             Status = 140
	StatusLegacyDeviceOnStrictPolicy                      Status = 141
	StatusDeviceNotProvisioned                            Status = 142
	StatusPolicyRefresh                                   Status = 143
	StatusInvalidPolicyKey                                Status = 144
	StatusExternallyManagedDevicesNotAllowed              Status = 145
	StatusNoRecurrenceInCalendar                          Status = 146
	StatusUnexpectedItemClass                             Status = 147
	StatusRemoteServerHasNoSSL                            Status = 148
	StatusInvalidStoredRequest                            Status = 149
	StatusItemNotFound                                    Status = 150
	StatusTooManyFolders                                  Status = 151
	StatusNoFoldersFound                                  Status = 152
	StatusItemsLostAfterMove                              Status = 153
	StatusFailureInMoveOperation                          Status = 154
	StatusMoveCommandDisallowedForNonPersistentMoveAction Status = 155
	StatusMoveCommandInvalidDestinationFolder             Status = 156
	StatusAvailabilityTooManyRecipients                   Status = 160
	StatusAvailabilityDLLimitReached                      Status = 161
	StatusAvailabilityTransientFailure                    Status = 162
	StatusAvailabilityFailure                             Status = 163
	StatusBodyPartPreferenceTypeNotSupported              Status = 164
	StatusDeviceInformationRequired                       Status = 165
	StatusInvalidAccountID                                Status = 166
	StatusAccountSendDisabled                             Status = 167
	StatusIRMFeatureDisabled                              Status = 168
	StatusIRMTransientError                               Status = 169
	StatusIRMPermanentError                               Status = 170
	StatusIRMInvalidTemplateID                            Status = 171
	StatusIRMOperationNotPermitted                        Status = 172
	StatusNoPicture                                       Status = 173
	StatusPictureTooLarge                                 Status = 174
	StatusPictureLimitReached                             Status = 175
	StatusBodyPartConversationTooLarge                    Status = 176
	StatusMaximumDevicesReached                           Status = 177
)

// Scope says how much of a request a status covers: MS-ASCMD's status tables
// give some codes to the whole command, some to one collection (a Sync or
// GetItemEstimate Collection) and some to one item.
type Scope uint8

// The scopes of a status.
const (
	ScopeCommand Scope = iota
	ScopeCollection
	ScopeItem
)

// String returns "command", "collection" or "item".
func (s Scope) String() string {
	switch s {
	case ScopeCommand:
		return "command"
	case ScopeCollection:
		return "collection"
	case ScopeItem:
		return "item"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// StatusError lets a handler state a protocol outcome directly: the gateway
// answers it with Status in the element that Scope names, unchanged.
type StatusError struct {
	Status Status
	Scope  Scope
}

func (e *StatusError) Error() string {
	return "eas: status " + strconv.Itoa(int(e.Status)) + " (" + e.Scope.String() + ")"
}
