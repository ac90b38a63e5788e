package eas

import "testing"

func TestValidateCertGolden(t *testing.T) {
	checkGolden(t, "validatecert/request", func(Tag) any { return new(ValidateCertRequest) })
	checkGolden(t, "validatecert/response", func(Tag) any { return new(ValidateCertResponse) })
}

func TestDecodeCertificate(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		wantErr  bool
	}{
		{"plain", "aGVsbG8=", "hello", false},
		{"wrapped", "aGVs\r\nbG8=", "hello", false},
		{"empty", " \n", "", true},
		{"not base64", "a*b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCertificate(tt.in)
			if (err != nil) != tt.wantErr || string(got) != tt.want {
				t.Errorf("DecodeCertificate(%q) = %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzUnmarshalValidateCert(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReencode[ValidateCertRequest](t, data)
		fuzzReencode[ValidateCertResponse](t, data)
	})
}
