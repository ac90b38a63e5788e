package gateway

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// resolveDo posts a ResolveRecipients and decodes the response.
func resolveDo(t *testing.T, f *ioFixture, v string, req *eas.ResolveRecipientsRequest) *eas.ResolveRecipientsResponse {
	t.Helper()
	r := f.post(t, "ResolveRecipients", v, req)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d", r.StatusCode)
	}
	var resp eas.ResolveRecipientsResponse
	ioDecode(t, ioReadAll(t, r), &resp)
	return &resp
}

func resolveEmails(res eas.ResolveRecipientsResult) []string {
	var out []string
	for _, r := range res.Recipient {
		out = append(out, r.EmailAddress)
	}
	return out
}

func TestResolveRecipients(t *testing.T) {
	f := galFixture(t, nil)
	tests := []struct {
		name      string
		to        string
		max       *int
		status    eas.ResolveRecipientsStatus
		count     int
		want      string // the addresses returned, comma-separated
		wantType  eas.RecipientType
		certsWant bool
	}{
		{name: "address", to: "alice@example.com", status: 1, count: 1, want: "alice@example.com"},
		{name: "address in other case", to: "ALICE@Example.com", status: 1, count: 1, want: "alice@example.com"},
		{name: "second address", to: "a.example@example.org", status: 1, count: 1, want: "a.example@example.org"},
		{name: "formatted address", to: `"Ioana" <mihai@badici.ro>`, status: 1, count: 1, want: "mihai@badici.ro"},
		{name: "exact name beats prefix", to: "Alice", status: 1, count: 1, want: "alice@example.com"},
		{name: "ambiguous", to: "ali", status: 2, count: 2, want: "alice@example.com,alicia@example.com"},
		{name: "ambiguous partial", to: "Example", max: ptr(1), status: 3, count: 2, want: "alice@example.com"},
		{name: "unknown address", to: "nobody@example.com", status: 4},
		{name: "address prefix is not a match", to: "alice@example.co", status: 4},
		{name: "unknown name", to: "zebra", status: 4},
	}
	for _, v := range append([]string{"2.5"}, ioVersions...) {
		for _, tc := range tests {
			t.Run(v+"/"+tc.name, func(t *testing.T) {
				req := &eas.ResolveRecipientsRequest{To: []string{tc.to},
					Options: &eas.ResolveRecipientsOptions{MaxAmbiguousRecipients: tc.max, CertificateRetrieval: ptr(eas.CertificateRetrievalFull)}}
				resp := resolveDo(t, f, v, req)
				if resp.Status != 1 || len(resp.Response) != 1 {
					t.Fatalf("response %+v, want Status 1 and one Response", resp)
				}
				res := resp.Response[0]
				got := strings.Join(resolveEmails(res), ",")
				if res.To != tc.to || res.Status != tc.status || res.RecipientCount == nil || *res.RecipientCount != tc.count || got != tc.want {
					t.Errorf("Response = To %q, Status %d, RecipientCount %v, %s; want %q, %d, %d, %s",
						res.To, res.Status, res.RecipientCount, got, tc.to, tc.status, tc.count, tc.want)
				}
				for _, r := range res.Recipient {
					c := r.Certificates
					if r.Type != eas.RecipientContact || r.DisplayName == "" || c == nil ||
						c.Status != eas.ResolveRecipientsNoValidCertificate || c.CertificateCount == nil || *c.CertificateCount != 0 {
						t.Errorf("recipient %+v, want a contact with a name and Certificates status 7", r)
					}
				}
			})
		}
	}
}

func TestResolveRecipientsAvailability(t *testing.T) {
	ctx := context.Background()
	f := galFixture(t, &Options{MailDomain: "example.com"})
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	events := []sources.Event{
		{Summary: "meeting", Start: start.Add(30 * time.Minute), End: start.Add(90 * time.Minute)},
		{Summary: "maybe", Start: start.Add(2 * time.Hour), End: start.Add(150 * time.Minute), BusyStatus: sources.Tentative},
		{Summary: "short", Start: start.Add(3*time.Hour + 10*time.Minute), End: start.Add(3*time.Hour + 20*time.Minute), BusyStatus: sources.OutOfOffice},
		{Summary: "free", Start: start, End: start.Add(4 * time.Hour), BusyStatus: sources.Free},
	}
	for i := range events {
		if _, _, err := f.src.Put(ctx, "calendar", &sources.Item{Event: &events[i]}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"14.1", "16.1"} {
		t.Run(v, func(t *testing.T) {
			req := &eas.ResolveRecipientsRequest{To: []string{"alice@example.com", "ali", "bob@example.com"},
				Options: &eas.ResolveRecipientsOptions{Availability: &eas.ResolveRecipientsAvailabilityRequest{
					StartTime: "2025-03-03T09:00:00.000Z", EndTime: "2025-03-03T13:00:00.000Z"}}}
			// The user's own address: alice@example.com, CORP\alice at
			// example.com.
			resp := resolveDo(t, f, v, req)
			if resp.Status != 1 || len(resp.Response) != 3 {
				t.Fatalf("response %+v", resp)
			}
			self := resp.Response[0].Recipient
			if len(self) != 1 || self[0].Availability == nil || self[0].Availability.Status != 1 ||
				self[0].Availability.MergedFreeBusy != "02201030" {
				t.Errorf("the user's Availability %+v, want Status 1 and 02201300", self[0].Availability)
			}
			for _, r := range resp.Response[1].Recipient {
				if r.Availability != nil {
					t.Errorf("ambiguous %s has Availability %+v, want none", r.EmailAddress, r.Availability)
				}
			}
			other := resp.Response[2].Recipient
			if len(other) != 1 || other[0].Availability == nil || other[0].Availability.Status != eas.StatusAvailabilityFailure ||
				other[0].Availability.MergedFreeBusy != "" {
				t.Errorf("another's Availability %+v, want Status %d and no data", other, eas.StatusAvailabilityFailure)
			}
		})
	}
	t.Run("window too long", func(t *testing.T) {
		req := &eas.ResolveRecipientsRequest{To: []string{"alice@example.com"},
			Options: &eas.ResolveRecipientsOptions{Availability: &eas.ResolveRecipientsAvailabilityRequest{
				StartTime: "2025-03-03T09:00:00.000Z", EndTime: "2025-06-03T09:00:00.000Z"}}}
		if resp := resolveDo(t, f, "14.1", req); resp.Status != eas.ResolveRecipientsProtocolError || len(resp.Response) != 0 {
			t.Errorf("response %+v, want Status 5 alone", resp)
		}
	})
}

func TestResolveRecipientsPicture(t *testing.T) {
	f := galFixture(t, nil)
	req := &eas.ResolveRecipientsRequest{To: []string{"alice@example.com", "alicia@example.com"},
		Options: &eas.ResolveRecipientsOptions{Picture: &eas.ResolveRecipientsPictureRequest{MaxSize: ptr(1024)}}}
	resp := resolveDo(t, f, "14.1", req)
	if len(resp.Response) != 2 || len(resp.Response[0].Recipient) != 1 || len(resp.Response[1].Recipient) != 1 {
		t.Fatalf("response %+v", resp)
	}
	if p := resp.Response[0].Recipient[0].Picture; p == nil || p.Status != 1 || p.Data == "" {
		t.Errorf("Alice's Picture %+v, want Status 1 with data", p)
	}
	if p := resp.Response[1].Recipient[0].Picture; p == nil || p.Status != eas.StatusNoPicture {
		t.Errorf("Alicia's Picture %+v, want Status %d", p, eas.StatusNoPicture)
	}
}

// TestResolveRecipientsCertificates checks that a directory entry with an
// S/MIME certificate (a contact's vCard KEY) resolves with it, full or
// mini, and one without it with status 7.
func TestResolveRecipientsCertificates(t *testing.T) {
	root := issue(t, caTemplate("Directory Root", 1, nil), nil)
	cert := issue(t, certTemplate("zoe", 2, nil), root).cert
	f := newIOFixture(t, 10)
	galAdd(t, f, "contacts",
		sources.Contact{FirstName: "Zoe", LastName: "Zertifikat", Emails: []string{"zoe@example.com"}, Certificates: [][]byte{cert.Raw}},
		sources.Contact{FirstName: "Yann", LastName: "Ohne", Emails: []string{"yann@example.com"}})
	for _, mode := range []int{eas.CertificateRetrievalFull, eas.CertificateRetrievalMini} {
		req := &eas.ResolveRecipientsRequest{To: []string{"zoe@example.com", "yann@example.com"},
			Options: &eas.ResolveRecipientsOptions{CertificateRetrieval: ptr(mode)}}
		resp := resolveDo(t, f, "14.1", req)
		if len(resp.Response) != 2 || len(resp.Response[0].Recipient) != 1 || len(resp.Response[1].Recipient) != 1 {
			t.Fatalf("response %+v, want one recipient each", resp)
		}
		c := resp.Response[0].Recipient[0].Certificates
		if c == nil || c.Status != eas.ResolveRecipientsSuccess || c.CertificateCount == nil || *c.CertificateCount != 1 ||
			len(c.Certificate) != 1 || c.Certificate[0] != base64.StdEncoding.EncodeToString(cert.Raw) {
			t.Errorf("CertificateRetrieval %d: Zoe's Certificates = %+v, want her one certificate", mode, c)
		}
		if c := resp.Response[1].Recipient[0].Certificates; c == nil || c.Status != eas.ResolveRecipientsNoValidCertificate {
			t.Errorf("CertificateRetrieval %d: Yann's Certificates = %+v, want status 7", mode, c)
		}
	}
}
