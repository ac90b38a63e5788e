package eas

// SmartForwardRequest is the body of a SmartForward command request in
// protocol version 14.0 and later, MS-ASCMD 2.2.1.19: Source forwarded with
// the client's text, and from 16.0 on, a meeting forwarded to Forwardees.
// Earlier versions send message/rfc822 with the source in the query.
type SmartForwardRequest struct {
	_               struct{}       `wbxml:"ComposeMail:SmartForward"`
	ClientID        string         `wbxml:"ComposeMail:ClientId,omitempty"`
	Source          *ComposeSource `wbxml:"ComposeMail:Source"`
	AccountID       string         `wbxml:"ComposeMail:AccountId,omitempty"`
	SaveInSentItems bool           `wbxml:"ComposeMail:SaveInSentItems,empty"`
	ReplaceMime     bool           `wbxml:"ComposeMail:ReplaceMime,empty"`
	Mime            []byte         `wbxml:"ComposeMail:Mime,opaque,omitempty"`
	TemplateID      string         `wbxml:"RightsManagement:TemplateID,omitempty"`
	Forwardees      *Forwardees    `wbxml:"ComposeMail:Forwardees,omitempty"` // 16.0+
}

// SmartForwardResponse is the body of a SmartForward response, MS-ASCMD
// 2.2.1.19, sent only on failure with a common status code of MS-ASCMD 2.2.2
// (MS-ASCMD 2.2.3.177.17).
type SmartForwardResponse struct {
	_      struct{} `wbxml:"ComposeMail:SmartForward"`
	Status Status   `wbxml:"ComposeMail:Status"`
}

// Validate checks r against the SmartForward schema of protocol version v.
// A meeting forwarded to Forwardees may come without Mime: the server
// builds the forward from the meeting itself.
func (r *SmartForwardRequest) Validate(v ProtocolVersion) error {
	const cmd = "SmartForward"
	if r.Source == nil {
		return schemaErrorf(cmd, "no Source")
	}
	if f := r.Forwardees; f != nil {
		if v < V160 {
			return schemaErrorf(cmd, "Forwardees needs 16.0, not %s", v)
		}
		if len(f.Forwardee) == 0 {
			return schemaErrorf(cmd, "empty Forwardees")
		}
		for _, fw := range f.Forwardee {
			if fw.Email == "" {
				return schemaErrorf(cmd, "Forwardee has no Email")
			}
		}
	}
	hasMime := len(r.Mime) > 0 || r.Forwardees != nil
	return validateCompose(cmd, v, r.ClientID, r.AccountID, r.TemplateID, hasMime, r.Source)
}
