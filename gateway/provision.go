package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// provisionRequest is eas.ProvisionRequest with one more valid form: the
// empty <Provision/> a device sends after a command answered that a remote
// wipe is pending (MS-ASPROV 3.1.5.1.1). eas.ProvisionRequest.Validate
// refuses it, so the Provision row decodes into this type.
type provisionRequest eas.ProvisionRequest

// Validate accepts an empty request and checks any other as
// eas.ProvisionRequest does.
func (r *provisionRequest) Validate(v eas.ProtocolVersion) error {
	if r.empty() {
		return nil
	}
	return (*eas.ProvisionRequest)(r).Validate(v)
}

func (r *provisionRequest) empty() bool {
	return r.DeviceInformation == nil && r.Policies == nil && r.RemoteWipe == nil && r.AccountOnlyRemoteWipe == nil
}

// permissivePolicy is sent when Policy.Doc is nil: a policy that requires
// nothing. It names only settings that protocol 12.0 knows.
var permissivePolicy = &eas.EASProvisionDoc{
	DevicePasswordEnabled:              new(false),
	AlphanumericDevicePasswordRequired: new(false),
	PasswordRecoveryEnabled:            new(false),
	AttachmentsEnabled:                 new(true),
	AllowSimpleDevicePassword:          new(true),
}

// handleProvision answers Provision, MS-ASCMD 2.2.1.14 and MS-ASPROV 3.2.5.1:
// the policy download (phase 1) and its acknowledgement (phase 2), remote
// wipe directives and their acknowledgements, and the DeviceInformation a
// 14.1 client sends along.
//
// A pending wipe takes precedence over any policy request: whatever the
// device asks for, it is told to wipe. An account-only wipe exists only in
// 16.1 (MS-ASPROV 2.2.2.1); to an older client it is not delivered at all,
// since sending it as a full wipe would erase more than the administrator
// asked for. It stays pending until the device speaks 16.1 or the
// administrator cancels it.
func (s *Server) handleProvision(ctx context.Context, sess *Session, req *provisionRequest) (*eas.ProvisionResponse, error) {
	resp := &eas.ProvisionResponse{Status: eas.ProvisionSuccess}
	if di := req.DeviceInformation; di != nil && di.Set != nil {
		// MS-ASPROV 3.2.5.1.1: the server stores it and reports the result.
		if err := s.storeDeviceInfo(ctx, sess, di.Set); err != nil {
			return nil, err
		}
		resp.DeviceInformation = &eas.SettingsResult{Status: eas.SettingsSuccess}
	}
	if s.state == nil {
		// Without device state there are no wipes, and no key is ever
		// checked; the one sent only keeps clients that need a key going.
		if req.Policies == nil {
			resp.Status = eas.ProvisionProtocolError
			return resp, nil
		}
		resp.Policies = noPolicy(req.Policies.Policy.PolicyType, statelessPolicyKey)
		return resp, nil
	}
	info, err := s.state.Account(ctx, sess.Account)
	if err != nil {
		return nil, fmt.Errorf("gateway: provision: reading the account: %w", err)
	}
	if ack := wipeAck(req); ack != nil {
		return s.acknowledgeWipe(ctx, sess, info, ack, resp)
	}
	if kind := pendingWipe(info, sess.Version()); kind != statecache.WipeNone {
		// MS-ASPROV 3.2.5.1.1: answer the initial request with the
		// directive; the device acknowledges it next.
		resp.RemoteWipe = kind == statecache.WipeFull
		resp.AccountOnlyRemoteWipe = kind == statecache.WipeAccountOnly
		s.log.InfoContext(ctx, "remote wipe sent", "user", sess.User, "device_id", sess.Request.DeviceID,
			"account_only", resp.AccountOnlyRemoteWipe)
		s.metrics.Wipe("sent")
		return resp, nil
	}
	if req.Policies == nil {
		// An empty request is only an answer to a wipe directive.
		resp.Status = eas.ProvisionProtocolError
		return resp, nil
	}
	p := req.Policies.Policy
	if p.PolicyType != eas.PolicyTypeFor(sess.Version()) {
		resp.Policies = policyAnswer(p.PolicyType, eas.PolicyTypeUnknown, "")
		return resp, nil
	}
	if (*eas.ProvisionRequest)(req).IsAcknowledgement() {
		return s.acknowledgePolicy(ctx, sess, p, resp)
	}
	key, err := s.state.IssuePolicyKey(ctx, sess.Account, s.now())
	if err != nil {
		return nil, fmt.Errorf("gateway: provision: issuing a policy key: %w", err)
	}
	if s.policy.Mode == PolicyNone {
		// MS-ASPROV 2.2.2.54.1: status 2, there is no policy for this
		// client. The key goes along all the same (MS-ASPROV 2.2.2.41
		// lists it in the response): Android's and early iOS's Exchange
		// clients give up on a Provision answer without one, as Z-Push
		// found. A device that acknowledges it gets a final key as in
		// the other modes; no request is ever refused for lacking one.
		resp.Policies = noPolicy(p.PolicyType, formatPolicyKey(key))
		return resp, nil
	}
	data, err := s.policyData(sess.Version())
	if err != nil {
		return nil, err
	}
	resp.Policies = policyAnswer(p.PolicyType, eas.PolicySuccess, formatPolicyKey(key))
	resp.Policies.Policy.Data = data
	return resp, nil
}

// acknowledgePolicy answers phase 2 (MS-ASPROV 3.2.5.1.2.1): the device
// returns the temporary key with the outcome of applying the policy, and
// gets the final key. A device that applied only part of the policy sends
// status 2 (at least the PIN is enabled); it is accepted as status 1 is.
// Status 3 (nothing applied) and 4 (managed by a third party) are accepted
// unless the policy is forced, which refuses them with 139 or 145
// (MS-ASCMD 2.2.2), or HTTP 403 before 14.0, which has no such codes.
func (s *Server) acknowledgePolicy(ctx context.Context, sess *Session, p *eas.ProvisionPolicy, resp *eas.ProvisionResponse) (*eas.ProvisionResponse, error) {
	if s.policy.Mode == PolicyForce && (p.Status == eas.PolicyAckNotApplied || p.Status == eas.PolicyAckExternalManaged) {
		st := eas.StatusDeviceNotFullyProvisionable
		if p.Status == eas.PolicyAckExternalManaged {
			st = eas.StatusExternallyManagedDevicesNotAllowed
		}
		return nil, &eas.StatusError{Status: st, Scope: eas.ScopeCommand}
	}
	temp, err := strconv.ParseUint(p.PolicyKey, 10, 32)
	if err != nil {
		resp.Policies = policyAnswer(p.PolicyType, eas.PolicyKeyMismatch, "")
		return resp, nil
	}
	final, err := s.state.AcknowledgePolicyKey(ctx, sess.Account, uint32(temp), s.now())
	if errors.Is(err, statecache.ErrPolicyKeyMismatch) && s.policy.Mode == PolicyNone {
		// With no policy no key matters: a key from before the state was
		// reset, or from another server, is not worth a round of
		// re-provisioning that some clients get wrong.
		var fresh uint32
		if fresh, err = s.state.IssuePolicyKey(ctx, sess.Account, s.now()); err == nil {
			final, err = s.state.AcknowledgePolicyKey(ctx, sess.Account, fresh, s.now())
		}
	}
	switch {
	case errors.Is(err, statecache.ErrPolicyKeyMismatch):
		resp.Policies = policyAnswer(p.PolicyType, eas.PolicyKeyMismatch, "")
		return resp, nil
	case err != nil:
		return nil, fmt.Errorf("gateway: provision: acknowledging policy key: %w", err)
	}
	resp.Policies = policyAnswer(p.PolicyType, eas.PolicySuccess, formatPolicyKey(final))
	return resp, nil
}

// acknowledgeWipe records a device's answer to a wipe directive, MS-ASPROV
// 3.2.5.1.2.2 and 3.2.5.1.2.3. A failed wipe stays pending and is answered
// with status 2 and the directive again. An acknowledgement with no wipe
// pending (a repeat) is answered with success and changes nothing.
func (s *Server) acknowledgeWipe(ctx context.Context, sess *Session, info *statecache.AccountInfo, ack *eas.RemoteWipeAck, resp *eas.ProvisionResponse) (*eas.ProvisionResponse, error) {
	kind := pendingWipe(info, sess.Version())
	if kind == statecache.WipeNone {
		return resp, nil
	}
	log := s.log.With("user", sess.User, "device_id", sess.Request.DeviceID, "account_only", kind == statecache.WipeAccountOnly)
	if ack.Status != eas.RemoteWipeSucceeded {
		log.WarnContext(ctx, "device reports the remote wipe failed")
		resp.Status = eas.ProvisionProtocolError
		resp.RemoteWipe = kind == statecache.WipeFull
		resp.AccountOnlyRemoteWipe = kind == statecache.WipeAccountOnly
		return resp, nil
	}
	if err := s.state.AcknowledgeWipe(ctx, sess.Account, s.now()); err != nil && !errors.Is(err, statecache.ErrNotFound) {
		return nil, fmt.Errorf("gateway: provision: recording the wipe: %w", err)
	}
	log.InfoContext(ctx, "remote wipe acknowledged")
	s.metrics.Wipe("done")
	return resp, nil
}

// wipeAck returns the wipe acknowledgement of req, or nil.
func wipeAck(req *provisionRequest) *eas.RemoteWipeAck {
	if req.RemoteWipe != nil {
		return req.RemoteWipe
	}
	return req.AccountOnlyRemoteWipe
}

// pendingWipe returns the kind of wipe to deliver to the account at
// protocol v: none when nothing is pending, when the wipe was acknowledged,
// or when it is account-only and v is older than 16.1.
func pendingWipe(info *statecache.AccountInfo, v eas.ProtocolVersion) statecache.WipeKind {
	if info == nil || info.Wipe.Acknowledged {
		return statecache.WipeNone
	}
	if info.Wipe.Kind == statecache.WipeAccountOnly && v < eas.V161 {
		return statecache.WipeNone
	}
	return info.Wipe.Kind
}

// policyData returns the Data of a phase-1 answer at protocol v.
func (s *Server) policyData(v eas.ProtocolVersion) (*eas.ProvisionData, error) {
	doc := s.policy.Doc
	if doc == nil {
		doc = permissivePolicy
	}
	if v >= eas.V120 {
		return &eas.ProvisionData{EASProvisionDoc: doc}, nil
	}
	text, err := wapPolicy(doc).Doc().Text()
	if err != nil {
		return nil, fmt.Errorf("gateway: provision: writing the 2.5 policy: %w", err)
	}
	return &eas.ProvisionData{WAPXML: text}, nil
}

// wapPolicy translates the settings of d that protocol 2.5 knows into its
// document, MS-ASPROV 2.2.2.24.2. Without a device password nothing else
// applies.
func wapPolicy(d *eas.EASProvisionDoc) eas.WAPPolicy {
	one, zero := 1, 0
	p := eas.WAPPolicy{PasswordPolicy: &one, Policy4133: &one}
	if d.DevicePasswordEnabled == nil || !*d.DevicePasswordEnabled {
		return p
	}
	p.PasswordPolicy = &zero
	set := func(n *eas.IntOrEmpty) *int {
		if n == nil || n.Empty {
			return nil
		}
		v := int(n.Value)
		return &v
	}
	if p.DeviceWipeThreshold = set(d.MaxDevicePasswordFailedAttempts); p.DeviceWipeThreshold != nil {
		p.Policy4133 = &zero
	}
	p.MinimumPasswordLength = set(d.MinDevicePasswordLength)
	complexity := 2
	if d.AlphanumericDevicePasswordRequired != nil && *d.AlphanumericDevicePasswordRequired {
		complexity = 0
	}
	p.PasswordComplexity = &complexity
	if secs := set(d.MaxInactivityTimeDeviceLock); secs != nil && *secs < 9999 {
		// The 2.5 lock counts minutes; MS-ASPROV's 9999 seconds and more
		// mean no lock.
		mins := (*secs + 59) / 60
		p.AEFrequencyType, p.AEFrequencyValue = &one, &mins
	} else {
		p.AEFrequencyType = &zero
	}
	return p
}

func policyAnswer(typ string, st eas.PolicyStatus, key string) *eas.ProvisionResponsePolicies {
	return &eas.ProvisionResponsePolicies{Policy: &eas.ProvisionResponsePolicy{PolicyType: typ, Status: st, PolicyKey: key}}
}

func noPolicy(typ, key string) *eas.ProvisionResponsePolicies {
	return policyAnswer(typ, eas.PolicyNotDefined, key)
}

// statelessPolicyKey is the key a Server without device state sends: it
// issues none and checks none, but clients want one in every answer.
const statelessPolicyKey = "1"

func formatPolicyKey(k uint32) string { return strconv.FormatUint(uint64(k), 10) }
