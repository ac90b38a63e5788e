package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// provisionBackend opens the memory store of testUser for testPassword.
type provisionBackend struct{ store *memory.Store }

func (b provisionBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user != testUser || password != testPassword {
		return nil, fmt.Errorf("bad credentials: %w", sources.ErrAuth)
	}
	return b.store.User(user), nil
}

// provisionTest is a Server with a real in-memory statecache, a memory
// store and the test FolderSync handler, driven as device dev01.
type provisionTest struct {
	t     *testing.T
	s     *Server
	state *statecache.Store
	acct  statecache.Account
}

func provisionTestServer(t *testing.T, o Options) *provisionTest {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.State = st
	o.Backend = provisionBackend{memory.New(nil)}
	s := newTestServer(t, &o, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	return &provisionTest{t: t, s: s, state: st, acct: statecache.Account{User: testUser, Device: "dev01"}}
}

// do posts cmd with body (a WBXML document or a value to marshal) at
// version v with policy key key (0: none).
func (p *provisionTest) do(cmd string, v eas.ProtocolVersion, key uint32, body any) *httptest.ResponseRecorder {
	p.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b = mustMarshal(p.t, body)
	}
	h := []string{"MS-ASProtocolVersion", v.String()}
	if key != 0 {
		h = append(h, "X-MS-PolicyKey", strconv.FormatUint(uint64(key), 10))
	}
	return post(p.s, Path+plainQuery+cmd, b, h...)
}

// provision posts a Provision request and decodes the answer, which must be
// HTTP 200.
func (p *provisionTest) provision(v eas.ProtocolVersion, body any) *eas.ProvisionResponse {
	p.t.Helper()
	w := p.do("Provision", v, 0, body)
	if w.Code != http.StatusOK {
		p.t.Fatalf("Provision = HTTP %d, want 200", w.Code)
	}
	var resp eas.ProvisionResponse
	if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
		p.t.Fatalf("decoding Provision response: %v", err)
	}
	return &resp
}

// folderSync posts FolderSync with key and checks the outcome: want 0 is
// success; otherwise the common status expected at 14.0 and later, which
// older versions see as HTTP 449 (or 500 for no other status here).
func (p *provisionTest) folderSync(v eas.ProtocolVersion, key uint32, want eas.Status) {
	p.t.Helper()
	w := p.do("FolderSync", v, key, &eas.FolderSyncRequest{SyncKey: "0"})
	var got eas.Status
	switch {
	case w.Code == 449:
		got = -449
	case w.Code != http.StatusOK:
		p.t.Fatalf("FolderSync key %d = HTTP %d", key, w.Code)
	default:
		var r eas.FolderSyncResponse
		if err := eas.Unmarshal(w.Body.Bytes(), &r, nil); err != nil {
			p.t.Fatal(err)
		}
		if r.Status != eas.FolderSyncStatusSuccess {
			got = eas.Status(r.Status)
		}
	}
	if want != 0 && v < eas.V140 {
		want = -449
	}
	if got != want {
		p.t.Fatalf("FolderSync %s key %d: status %d, want %d (-449: HTTP 449)", v, key, got, want)
	}
}

// phase1 requests the policy and returns the temporary key.
func (p *provisionTest) phase1(v eas.ProtocolVersion) uint32 {
	p.t.Helper()
	resp := p.provision(v, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(v)}}})
	pol := provisionPolicy(p.t, resp)
	if resp.Status != eas.ProvisionSuccess || pol.Status != eas.PolicySuccess || pol.Data == nil {
		p.t.Fatalf("phase 1 = %+v, policy %+v", resp, pol)
	}
	if v < eas.V120 {
		doc, err := eas.ParseWAPProvisioningDoc(pol.Data.WAPXML)
		if err != nil || len(doc.Characteristics) == 0 {
			p.t.Fatalf("2.5 policy %q: %v", pol.Data.WAPXML, err)
		}
	} else if pol.Data.EASProvisionDoc == nil {
		p.t.Fatalf("phase 1 at %s has no EASProvisionDoc", v)
	}
	return provisionKey(p.t, pol.PolicyKey)
}

// phase2 acknowledges key with status st and returns the answer's policy.
func (p *provisionTest) phase2(v eas.ProtocolVersion, key uint32, st eas.PolicyAckStatus) *eas.ProvisionResponsePolicy {
	p.t.Helper()
	resp := p.provision(v, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{
		PolicyType: eas.PolicyTypeFor(v), PolicyKey: strconv.FormatUint(uint64(key), 10), Status: st,
	}}})
	if resp.Status != eas.ProvisionSuccess || resp.Policies == nil {
		p.t.Fatalf("phase 2 = %+v", resp)
	}
	return provisionPolicy(p.t, resp)
}

// provisioned runs both phases and returns the final key.
func (p *provisionTest) provisioned(v eas.ProtocolVersion) uint32 {
	p.t.Helper()
	pol := p.phase2(v, p.phase1(v), eas.PolicyAckApplied)
	if pol.Status != eas.PolicySuccess {
		p.t.Fatalf("phase 2 policy = %+v", pol)
	}
	return provisionKey(p.t, pol.PolicyKey)
}

func provisionPolicy(t *testing.T, resp *eas.ProvisionResponse) *eas.ProvisionResponsePolicy {
	t.Helper()
	if resp.Policies == nil || resp.Policies.Policy == nil {
		t.Fatalf("Provision response %+v has no Policy", resp)
	}
	return resp.Policies.Policy
}

func provisionKey(t *testing.T, s string) uint32 {
	t.Helper()
	k, err := strconv.ParseUint(s, 10, 32)
	if err != nil || k == 0 {
		t.Fatalf("policy key %q is not a non-zero 32-bit number", s)
	}
	return uint32(k)
}

var provisionVersions = []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160, eas.V161}

// TestProvisionConversation runs a forced policy from an unprovisioned
// device to syncing, with the iOS 4.3 habit of sending the temporary key
// once more after phase 2.
func TestProvisionConversation(t *testing.T) {
	for _, v := range provisionVersions {
		t.Run(v.String(), func(t *testing.T) {
			p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
			p.folderSync(v, 0, eas.StatusDeviceNotProvisioned)
			temp := p.phase1(v)
			p.folderSync(v, temp, eas.StatusInvalidPolicyKey)

			if pol := p.phase2(v, temp+1, eas.PolicyAckApplied); pol.Status != eas.PolicyKeyMismatch || pol.PolicyKey != "" {
				t.Errorf("acknowledging a wrong key: policy %+v, want status 5 and no key", pol)
			}
			pol := p.phase2(v, temp, eas.PolicyAckApplied)
			final := provisionKey(t, pol.PolicyKey)
			if pol.Status != eas.PolicySuccess || final == temp {
				t.Fatalf("phase 2 policy %+v (temporary key %d)", pol, temp)
			}
			p.folderSync(v, temp, 0) // iOS 4.3: the old key once
			p.folderSync(v, temp, eas.StatusInvalidPolicyKey)
			p.folderSync(v, final, 0)
			p.folderSync(v, final, 0)
		})
	}
}

// TestProvisionPartial: a device that cannot apply everything acknowledges
// with status 2 and is provisioned; one that applied nothing is refused
// under a forced policy and accepted under an allowing one.
func TestProvisionPartial(t *testing.T) {
	tests := []struct {
		name   string
		mode   PolicyMode
		v      eas.ProtocolVersion
		ack    eas.PolicyAckStatus
		want   eas.Status // 0: provisioned
		wantHT int
	}{
		{"partial-force", PolicyForce, eas.V141, eas.PolicyAckPartial, 0, 200},
		{"not-applied-force", PolicyForce, eas.V141, eas.PolicyAckNotApplied, eas.StatusDeviceNotFullyProvisionable, 200},
		{"external-force", PolicyForce, eas.V161, eas.PolicyAckExternalManaged, eas.StatusExternallyManagedDevicesNotAllowed, 200},
		{"not-applied-force-12.1", PolicyForce, eas.V121, eas.PolicyAckNotApplied, 0, http.StatusForbidden},
		{"not-applied-allow", PolicyAllow, eas.V141, eas.PolicyAckNotApplied, 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provisionTestServer(t, Options{Policy: Policy{Mode: tt.mode}})
			temp := p.phase1(tt.v)
			w := p.do("Provision", tt.v, 0, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{
				PolicyType: eas.PolicyTypeFor(tt.v), PolicyKey: strconv.FormatUint(uint64(temp), 10), Status: tt.ack,
			}}})
			if w.Code != tt.wantHT {
				t.Fatalf("acknowledgement = HTTP %d, want %d", w.Code, tt.wantHT)
			}
			if w.Code != 200 {
				return
			}
			if tt.want != 0 {
				if _, st := decodeStatus(t, w.Body.Bytes()); eas.Status(st) != tt.want {
					t.Errorf("status %d, want %d", st, tt.want)
				}
				return
			}
			var resp eas.ProvisionResponse
			if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
				t.Fatal(err)
			}
			p.folderSync(tt.v, provisionKey(t, provisionPolicy(t, &resp).PolicyKey), 0)
		})
	}
}

// TestProvisionPolicyNone: with no policy, Provision answers status 2
// with a key all the same (issue 10: Android and early iOS fail without
// one); a device that acknowledges it gets a final key, and requests pass
// with or without a key.
func TestProvisionPolicyNone(t *testing.T) {
	for _, v := range provisionVersions {
		t.Run(v.String(), func(t *testing.T) {
			p := provisionTestServer(t, Options{})
			p.folderSync(v, 0, 0)
			resp := p.provision(v, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(v)}}})
			pol := provisionPolicy(t, resp)
			if resp.Status != eas.ProvisionSuccess || pol.Status != eas.PolicyNotDefined || pol.Data != nil || pol.PolicyType != eas.PolicyTypeFor(v) {
				t.Errorf("Provision = %+v, policy %+v; want status 2 without data", resp, pol)
			}
			temp := provisionKey(t, pol.PolicyKey)
			ack := p.phase2(v, temp, eas.PolicyAckApplied)
			final := provisionKey(t, ack.PolicyKey)
			if ack.Status != eas.PolicySuccess || final == temp {
				t.Errorf("acknowledgement = %+v, want status 1 with a new key", ack)
			}
			p.folderSync(v, final, 0)
			p.folderSync(v, 0, 0)
			// A key this server never issued (state reset, another
			// server) is acknowledged with a fresh final key.
			if stale := p.phase2(v, 4242, eas.PolicyAckApplied); stale.Status != eas.PolicySuccess || provisionKey(t, stale.PolicyKey) == 4242 {
				t.Errorf("acknowledging an unknown key = %+v, want status 1 with a key of ours", stale)
			}
		})
	}
}

// TestProvisionStatelessKey: a Server without device state still sends a
// key with its status 2.
func TestProvisionStatelessKey(t *testing.T) {
	o := Options{Backend: provisionBackend{memory.New(nil)}}
	s := newTestServer(t, &o, nil)
	w := post(s, Path+plainQuery+"Provision", mustMarshal(t, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeWBXML}}}),
		"MS-ASProtocolVersion", "14.1")
	var resp eas.ProvisionResponse
	if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
		t.Fatalf("Provision = HTTP %d: %v", w.Code, err)
	}
	if pol := provisionPolicy(t, &resp); pol.Status != eas.PolicyNotDefined || pol.PolicyKey == "" {
		t.Errorf("policy = %+v, want status 2 with a key", pol)
	}
}

func TestProvisionUnknownPolicyType(t *testing.T) {
	tests := []struct {
		name, typ string
		v         eas.ProtocolVersion
	}{
		{"wap-at-14.1", eas.PolicyTypeWAP, eas.V141},
		{"wbxml-at-2.5", eas.PolicyTypeWBXML, eas.V25},
		{"made-up", "MS-Made-Up", eas.V121},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
			resp := p.provision(tt.v, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: tt.typ}}})
			if pol := provisionPolicy(t, resp); pol.Status != eas.PolicyTypeUnknown || pol.PolicyKey != "" || pol.PolicyType != tt.typ {
				t.Errorf("policy = %+v, want status 3, type %s, no key", pol, tt.typ)
			}
		})
	}
}

// TestProvisionDeviceInformation: a 14.1 phase 1 carries DeviceInformation,
// which is stored and answered.
func TestProvisionDeviceInformation(t *testing.T) {
	p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
	resp := p.provision(eas.V141, &eas.ProvisionRequest{
		DeviceInformation: &eas.DeviceInformation{Set: &eas.DeviceInformationSet{Model: "iPhone9,3", OS: "iOS 15", MobileOperator: "Op"}},
		Policies:          &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeWBXML}},
	})
	if resp.DeviceInformation == nil || resp.DeviceInformation.Status != eas.SettingsSuccess {
		t.Errorf("DeviceInformation answer = %+v, want status 1", resp.DeviceInformation)
	}
	d, err := p.state.Device(t.Context(), "dev01")
	if err != nil {
		t.Fatal(err)
	}
	want := statecache.DeviceInfo{Model: "iPhone9,3", OS: "iOS 15", MobileOperator: "Op"}
	if d.Info != want {
		t.Errorf("stored %+v, want %+v", d.Info, want)
	}
}

func TestProvisionWipe(t *testing.T) {
	tests := []struct {
		name      string
		v         eas.ProtocolVersion
		kind      statecache.WipeKind
		delivered bool // else the device never hears of it
	}{
		{"full-2.5", eas.V25, statecache.WipeFull, true},
		{"full-12.1", eas.V121, statecache.WipeFull, true},
		{"full-14.1", eas.V141, statecache.WipeFull, true},
		{"full-16.1", eas.V161, statecache.WipeFull, true},
		{"account-only-16.1", eas.V161, statecache.WipeAccountOnly, true},
		{"account-only-14.1", eas.V141, statecache.WipeAccountOnly, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
			final := p.provisioned(tt.v)
			if err := p.state.RequestWipe(ctx, p.acct, tt.kind, "admin", p.s.now()); err != nil {
				t.Fatal(err)
			}
			if !tt.delivered {
				p.folderSync(tt.v, final, 0)
				resp := p.provision(tt.v, &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(tt.v)}}})
				if resp.RemoteWipe || resp.AccountOnlyRemoteWipe {
					t.Errorf("account-only wipe sent at %s: %+v", tt.v, resp)
				}
				return
			}
			p.folderSync(tt.v, final, eas.StatusRemoteWipeRequested)

			// MS-ASPROV 3.1.5.1.1: the device answers with an empty Provision.
			directive := &eas.ProvisionResponse{Status: eas.ProvisionSuccess,
				RemoteWipe: tt.kind == statecache.WipeFull, AccountOnlyRemoteWipe: tt.kind == statecache.WipeAccountOnly}
			if got := p.provision(tt.v, &eas.ProvisionRequest{}); !reflect.DeepEqual(got, directive) {
				t.Fatalf("empty Provision = %+v, want %+v", got, directive)
			}
			ack := func(st eas.RemoteWipeStatus) *eas.ProvisionRequest {
				if tt.kind == statecache.WipeAccountOnly {
					return &eas.ProvisionRequest{AccountOnlyRemoteWipe: &eas.RemoteWipeAck{Status: st}}
				}
				return &eas.ProvisionRequest{RemoteWipe: &eas.RemoteWipeAck{Status: st}}
			}
			failed := *directive
			failed.Status = eas.ProvisionProtocolError
			if got := p.provision(tt.v, ack(eas.RemoteWipeFailed)); !reflect.DeepEqual(got, &failed) {
				t.Errorf("failed wipe answered %+v, want %+v", got, &failed)
			}
			if got := p.provision(tt.v, ack(eas.RemoteWipeSucceeded)); !reflect.DeepEqual(got, &eas.ProvisionResponse{Status: eas.ProvisionSuccess}) {
				t.Errorf("wipe acknowledgement answered %+v, want status 1 alone", got)
			}
			info, err := p.state.Account(ctx, p.acct)
			if err != nil || !info.Wipe.Acknowledged || info.Wipe.Kind != tt.kind {
				t.Fatalf("account wipe = %+v, %v; want acknowledged", info, err)
			}
		})
	}
}

func TestProvisionWipeCancelled(t *testing.T) {
	ctx := t.Context()
	p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
	final := p.provisioned(eas.V141)
	if err := p.state.RequestWipe(ctx, p.acct, statecache.WipeFull, "admin", p.s.now()); err != nil {
		t.Fatal(err)
	}
	if err := p.state.CancelWipe(ctx, p.acct); err != nil {
		t.Fatal(err)
	}
	p.folderSync(eas.V141, final, 0)
	if resp := p.provision(eas.V141, &eas.ProvisionRequest{}); resp.RemoteWipe || resp.Status != eas.ProvisionProtocolError {
		t.Errorf("empty Provision with no wipe = %+v, want status 2 and no directive", resp)
	}
}

// TestProvisionDeviceCaptures replays the real Provision requests of
// eas/testdata/devices. The captured acknowledgements carry keys another
// server issued, so they must be refused with policy status 5.
func TestProvisionDeviceCaptures(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../eas/testdata/devices/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p := provisionTestServer(t, Options{Policy: Policy{Mode: PolicyForce}})
	for _, v := range []eas.ProtocolVersion{eas.V121, eas.V141} {
		resp := p.provision(v, read("ios/iphone-provision-initial.wbxml"))
		if pol := provisionPolicy(t, resp); pol.Status != eas.PolicySuccess || pol.Data == nil || pol.Data.EASProvisionDoc == nil {
			t.Errorf("%s: iPhone phase 1 policy = %+v", v, pol)
		}
		for _, name := range []string{"ios/iphone-provision-acknowledge.wbxml", "unidentified-client/provision-acknowledge.wbxml"} {
			resp := p.provision(v, read(name))
			if pol := provisionPolicy(t, resp); pol.Status != eas.PolicyKeyMismatch {
				t.Errorf("%s %s: policy = %+v, want status 5", v, name, pol)
			}
		}
	}
}

func TestWAPPolicy(t *testing.T) {
	one, zero, two, four, eight, ten := 1, 0, 2, 4, 8, 10
	tests := []struct {
		name string
		doc  *eas.EASProvisionDoc
		want eas.WAPPolicy
	}{
		{"permissive", permissivePolicy, eas.WAPPolicy{PasswordPolicy: &one, Policy4133: &one}},
		{"pin", &eas.EASProvisionDoc{
			DevicePasswordEnabled: new(true), MinDevicePasswordLength: eas.PolicyInt(4),
			MaxInactivityTimeDeviceLock: eas.PolicyInt(600), MaxDevicePasswordFailedAttempts: eas.PolicyInt(8),
		}, eas.WAPPolicy{PasswordPolicy: &zero, Policy4133: &zero, DeviceWipeThreshold: &eight,
			MinimumPasswordLength: &four, PasswordComplexity: &two, AEFrequencyType: &one, AEFrequencyValue: &ten}},
		{"alphanumeric-no-lock", &eas.EASProvisionDoc{
			DevicePasswordEnabled: new(true), AlphanumericDevicePasswordRequired: new(true),
			MaxInactivityTimeDeviceLock: eas.PolicyInt(9999),
		}, eas.WAPPolicy{PasswordPolicy: &zero, Policy4133: &one, PasswordComplexity: &zero, AEFrequencyType: &zero}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wapPolicy(tt.doc); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("wapPolicy = %+v, want %+v", got, tt.want)
			}
		})
	}
}
