package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// oofer is a store that keeps the user's automatic replies. Settings Oof
// works only where the Source implements it.
type oofer interface {
	Oof(ctx context.Context) (sources.Oof, error)
	SetOof(ctx context.Context, o sources.Oof) error
}

// handleSettings answers Settings, MS-ASCMD 2.2.1.18. Each section is
// answered with its own Status; the command's Status is 1 unless the whole
// request failed.
//
//   - Oof Get/Set: through the store's oofer; a store without one is
//     answered 3 (access denied), the section status that tells the client
//     the setting cannot be read or changed here.
//   - DevicePassword Set: answered 1, and the password is stored nowhere:
//     easgate has no use for a recovery password (MS-ASCMD 2.2.3.44).
//   - DeviceInformation Set: stored in the device state.
//   - UserInformation Get: the user's primary SMTP address.
//   - RightsManagementInformation Get: no templates (IRM is not offered).
func (s *Server) handleSettings(ctx context.Context, sess *Session, req *eas.SettingsRequest) (*eas.SettingsResponse, error) {
	resp := &eas.SettingsResponse{Status: eas.SettingsSuccess}
	if req.Oof != nil {
		r, err := s.settingsOof(ctx, sess, req.Oof)
		if err != nil {
			return nil, err
		}
		resp.Oof = r
	}
	if req.DevicePassword != nil {
		resp.DevicePassword = &eas.SettingsResult{Status: eas.SettingsSuccess}
	}
	if di := req.DeviceInformation; di != nil {
		if err := s.storeDeviceInfo(ctx, sess, di.Set); err != nil {
			return nil, err
		}
		resp.DeviceInformation = &eas.SettingsResult{Status: eas.SettingsSuccess}
	}
	if req.UserInformation != nil {
		resp.UserInformation = s.userInformation(sess)
	}
	if req.RightsManagementInformation != nil {
		resp.RightsManagementInformation = &eas.RightsManagementInformationResponse{
			Status: eas.SettingsSuccess,
			Get:    &eas.RightsManagementInformationData{Templates: &eas.SettingsRightsManagementTemplates{}},
		}
	}
	return resp, nil
}

// storeDeviceInfo keeps what a device says of itself (Settings, and
// Provision from 14.1 on). The UserAgent element is not kept apart: the
// device state records the User-Agent header of every request.
func (s *Server) storeDeviceInfo(ctx context.Context, sess *Session, d *eas.DeviceInformationSet) error {
	if s.state == nil || d == nil {
		return nil
	}
	err := s.state.SetDeviceInfo(ctx, sess.Request.DeviceID, statecache.DeviceInfo{
		Model: d.Model, IMEI: d.IMEI, FriendlyName: d.FriendlyName, OS: d.OS, OSLanguage: d.OSLanguage,
		PhoneNumber: d.PhoneNumber, MobileOperator: d.MobileOperator,
	})
	if err != nil {
		return fmt.Errorf("gateway: storing device information: %w", err)
	}
	return nil
}

// userInformation answers UserInformation Get, MS-ASCMD 2.2.3.187: the
// address directly before 14.1, inside Accounts from 14.1 on.
func (s *Server) userInformation(sess *Session) *eas.UserInformationResponse {
	addr := s.primaryAddress(sess.User)
	data := &eas.UserInformationData{}
	if sess.Version() >= eas.V141 {
		data.Accounts = &eas.SettingsAccounts{Account: []eas.SettingsAccount{{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{addr}, PrimarySmtpAddress: addr},
		}}}
	} else {
		data.EmailAddresses = &eas.SettingsEmailAddresses{SMTPAddress: []string{addr}}
	}
	return &eas.UserInformationResponse{Status: eas.SettingsSuccess, Get: data}
}

// primaryAddress returns the user's SMTP address: the login name when it
// is an address, else the name (without a DOMAIN\ prefix) at MailDomain.
func (s *Server) primaryAddress(user string) string {
	if strings.Contains(user, "@") {
		return user
	}
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	if s.mailDom == "" {
		return user
	}
	return user + "@" + s.mailDom
}

// settingsOof answers an Oof Get or Set, MS-ASCMD 2.2.3.117. A Set changes
// what it names and leaves the rest: the Gmail app sends the times with
// OofState 0 (android/gmail-sm-m215f-settings-oof-set.wbxml).
func (s *Server) settingsOof(ctx context.Context, sess *Session, req *eas.OofRequest) (*eas.OofResponse, error) {
	o, ok := sess.Source.(oofer)
	if !ok {
		return &eas.OofResponse{Status: eas.SettingsAccessDenied}, nil
	}
	cur, err := o.Oof(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: reading automatic replies: %w", err)
	}
	if req.Get != nil {
		return &eas.OofResponse{Status: eas.SettingsSuccess, Get: oofToEAS(cur, strings.EqualFold(req.Get.BodyType, eas.OofBodyHTML))}, nil
	}
	set := req.Set
	if set.OofState != nil {
		cur.State = sources.OofState(*set.OofState)
	}
	for _, t := range []struct {
		text string
		dst  *time.Time
	}{{set.StartTime, &cur.Start}, {set.EndTime, &cur.End}} {
		if t.text != "" {
			*t.dst, _ = time.Parse(time.RFC3339Nano, t.text) // Validate parsed it
		}
	}
	if cur.State == sources.OofScheduled && !cur.End.After(cur.Start) {
		return &eas.OofResponse{Status: eas.SettingsConflictingArgument}, nil
	}
	for _, m := range set.OofMessage {
		r := oofReply(&cur, m)
		if m.Enabled != nil {
			r.Enabled = *m.Enabled
		}
		if m.ReplyMessage != nil {
			r.Text = *m.ReplyMessage
		}
		if m.BodyType != "" {
			r.HTML = strings.EqualFold(m.BodyType, eas.OofBodyHTML)
		}
	}
	if err := o.SetOof(ctx, cur); err != nil {
		return nil, fmt.Errorf("gateway: changing automatic replies: %w", err)
	}
	return &eas.OofResponse{Status: eas.SettingsSuccess}, nil
}

// oofReply returns the reply of o that m applies to.
func oofReply(o *sources.Oof, m eas.OofMessage) *sources.OofReply {
	switch {
	case m.AppliesToInternal:
		return &o.Internal
	case m.AppliesToExternalKnown:
		return &o.ExternalKnown
	}
	return &o.ExternalUnknown
}

// oofToEAS returns o as an Oof Get answer, MS-ASCMD 2.2.3.76, with every
// reply in the body type the client asked for (MS-ASCMD 2.2.3.17: with
// HTML the messages are sent as HTML, with Text as plain text): a reply
// stored in the other form is converted.
func oofToEAS(o sources.Oof, asHTML bool) *eas.OofSettings {
	st := eas.OofState(o.State)
	out := &eas.OofSettings{OofState: &st}
	if o.State == sources.OofScheduled {
		out.StartTime = o.Start.UTC().Format("2006-01-02T15:04:05.000Z")
		out.EndTime = o.End.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	for _, r := range []struct {
		reply                         sources.OofReply
		internal, extKnown, extUnknow bool
	}{
		{o.Internal, true, false, false},
		{o.ExternalKnown, false, true, false},
		{o.ExternalUnknown, false, false, true},
	} {
		text, body := r.reply.Text, eas.OofBodyText
		switch {
		case asHTML && !r.reply.HTML && text != "":
			text = textToHTML(text)
		case !asHTML && r.reply.HTML:
			text = htmlToText(text)
		}
		if asHTML {
			body = eas.OofBodyHTML
		}
		out.OofMessage = append(out.OofMessage, eas.OofMessage{
			AppliesToInternal: r.internal, AppliesToExternalKnown: r.extKnown, AppliesToExternalUnknown: r.extUnknow,
			Enabled: new(r.reply.Enabled), ReplyMessage: &text, BodyType: body,
		})
	}
	return out
}
