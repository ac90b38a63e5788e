package eas

// SendMailRequest is the body of a SendMail command request in protocol
// version 14.0 and later, MS-ASCMD 2.2.1.17. Versions 2.5 to 12.1 send the
// message itself as a message/rfc822 body, with SaveInSent in the query,
// and never reach this type.
type SendMailRequest struct {
	_               struct{} `wbxml:"ComposeMail:SendMail"`
	ClientID        string   `wbxml:"ComposeMail:ClientId,omitempty"`  // the client's unique id for the message, against resending
	AccountID       string   `wbxml:"ComposeMail:AccountId,omitempty"` // the account to send from, from Settings
	SaveInSentItems bool     `wbxml:"ComposeMail:SaveInSentItems,empty"`
	Mime            []byte   `wbxml:"ComposeMail:Mime,opaque,omitempty"` // the RFC 5322 message; clients send it as opaque data or text
	TemplateID      string   `wbxml:"RightsManagement:TemplateID,omitempty"`
}

// SendMailResponse is the body of a SendMail response, MS-ASCMD 2.2.1.17.
// The server sends none on success; on failure Status holds one of the
// common codes of MS-ASCMD 2.2.2 (StatusInvalidMIME, StatusMailSubmissionFailed
// …), MS-ASCMD 2.2.3.177.16.
type SendMailResponse struct {
	_      struct{} `wbxml:"ComposeMail:SendMail"`
	Status Status   `wbxml:"ComposeMail:Status"`
}

// ComposeSource names the message that a SmartReply or SmartForward
// answers, MS-ASCMD 2.2.3.172: a mailbox item by FolderID and ItemID, or a
// search result by LongID; InstanceID picks one occurrence of a recurring
// meeting.
type ComposeSource struct {
	FolderID   string `wbxml:"ComposeMail:FolderId,omitempty"`
	ItemID     string `wbxml:"ComposeMail:ItemId,omitempty"`
	LongID     string `wbxml:"ComposeMail:LongId,omitempty"`
	InstanceID string `wbxml:"ComposeMail:InstanceId,omitempty"`
}

// Forwardees lists extra recipients of a forwarded meeting (16.0+),
// MS-ASCMD 2.2.3.78.
type Forwardees struct {
	Forwardee []Forwardee `wbxml:"ComposeMail:Forwardee"`
}

// Forwardee is one recipient of a forwarded meeting, MS-ASCMD 2.2.3.77.
type Forwardee struct {
	Name  string `wbxml:"ComposeMail:Name,omitempty"`
	Email string `wbxml:"ComposeMail:Email"`
}

// Validate checks r against the SendMail schema of protocol version v.
func (r *SendMailRequest) Validate(v ProtocolVersion) error {
	return validateCompose("SendMail", v, r.ClientID, r.AccountID, r.TemplateID, len(r.Mime) > 0, nil)
}

// validateCompose checks what SendMail, SmartReply and SmartForward share.
// src is nil for SendMail, which has no Source.
func validateCompose(cmd string, v ProtocolVersion, clientID, accountID, templateID string, hasMime bool, src *ComposeSource) error {
	if v < V140 {
		return schemaErrorf(cmd, "a WBXML %s body needs 14.0; %s sends message/rfc822", cmd, v)
	}
	if clientID == "" || len(clientID) > 40 {
		return schemaErrorf(cmd, "ClientId missing or longer than 40 characters")
	}
	if !hasMime {
		return schemaErrorf(cmd, "no Mime")
	}
	if accountID != "" && v < V141 {
		return schemaErrorf(cmd, "AccountId needs 14.1, not %s", v)
	}
	if templateID != "" && v < V141 {
		return schemaErrorf(cmd, "rm:TemplateID needs 14.1, not %s", v)
	}
	if src == nil {
		return nil
	}
	switch {
	case src.LongID != "":
		if src.FolderID != "" || src.ItemID != "" {
			return schemaErrorf(cmd, "Source has LongId and FolderId or ItemId")
		}
		if len(src.LongID) > 256 {
			return schemaErrorf(cmd, "Source LongId longer than 256 characters")
		}
	case src.ItemID == "":
		return schemaErrorf(cmd, "Source has neither ItemId nor LongId")
	case len(src.ItemID) > 64 || len(src.FolderID) > 64:
		return schemaErrorf(cmd, "Source FolderId or ItemId longer than 64 characters")
	}
	return nil
}
