package eas

// SmartReplyRequest is the body of a SmartReply command request in protocol
// version 14.0 and later, MS-ASCMD 2.2.1.20: a reply to Source, which the
// server completes with the original message unless ReplaceMime is set.
// Earlier versions send message/rfc822 with the source in the query.
type SmartReplyRequest struct {
	_               struct{}       `wbxml:"ComposeMail:SmartReply"`
	ClientID        string         `wbxml:"ComposeMail:ClientId,omitempty"`
	Source          *ComposeSource `wbxml:"ComposeMail:Source"`
	AccountID       string         `wbxml:"ComposeMail:AccountId,omitempty"`
	SaveInSentItems bool           `wbxml:"ComposeMail:SaveInSentItems,empty"`
	ReplaceMime     bool           `wbxml:"ComposeMail:ReplaceMime,empty"`
	Mime            []byte         `wbxml:"ComposeMail:Mime,opaque,omitempty"`
	TemplateID      string         `wbxml:"RightsManagement:TemplateID,omitempty"`
}

// SmartReplyResponse is the body of a SmartReply response, MS-ASCMD
// 2.2.1.20, sent only on failure with a common status code of MS-ASCMD 2.2.2
// (MS-ASCMD 2.2.3.177.18).
type SmartReplyResponse struct {
	_      struct{} `wbxml:"ComposeMail:SmartReply"`
	Status Status   `wbxml:"ComposeMail:Status"`
}

// Validate checks r against the SmartReply schema of protocol version v.
func (r *SmartReplyRequest) Validate(v ProtocolVersion) error {
	if r.Source == nil {
		return schemaErrorf("SmartReply", "no Source")
	}
	return validateCompose("SmartReply", v, r.ClientID, r.AccountID, r.TemplateID, len(r.Mime) > 0, r.Source)
}
