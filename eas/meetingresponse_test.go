package eas

import (
	"strings"
	"testing"
)

func TestMeetingResponseGolden(t *testing.T) {
	checkGolden(t, "meetingresponse/request", func(Tag) any { return new(MeetingResponseRequest) })
	checkGolden(t, "meetingresponse/response", func(Tag) any { return new(MeetingResponseResponse) })
}

func TestMeetingResponseValidate(t *testing.T) {
	req := func(q MeetingResponseItem) *MeetingResponseRequest {
		return &MeetingResponseRequest{Requests: []MeetingResponseItem{q}}
	}
	propose := &MeetingSendResponse{ProposedStartTime: "20240403T100000Z", ProposedEndTime: "20240403T110000Z"}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *MeetingResponseRequest
		ok   bool
	}{
		{"accept at 2.5", V25, req(MeetingResponseItem{UserResponse: 1, CollectionID: "5", RequestID: "5:1"}), true},
		{"request id alone", V141, req(MeetingResponseItem{UserResponse: 3, RequestID: "5:1"}), true},
		{"user response 0", V141, req(MeetingResponseItem{CollectionID: "5", RequestID: "5:1"}), false},
		{"no item named", V141, req(MeetingResponseItem{UserResponse: 1, CollectionID: "5"}), false},
		{"request id 65", V141, req(MeetingResponseItem{UserResponse: 1, RequestID: strings.Repeat("r", 65)}), false},
		{"long id at 12.0", V120, req(MeetingResponseItem{UserResponse: 1, LongID: "RgAA"}), false},
		{"long id and request id", V141, req(MeetingResponseItem{UserResponse: 1, LongID: "RgAA", RequestID: "5:1"}), false},
		{"instance at 14.0", V140, req(MeetingResponseItem{UserResponse: 1, RequestID: "5:1", InstanceID: "2024-04-02T09:00:00.000Z"}), false},
		{"send response at 16.0", V160, req(MeetingResponseItem{UserResponse: 1, RequestID: "5:1", SendResponse: &MeetingSendResponse{}}), true},
		{"proposal at 16.0", V160, req(MeetingResponseItem{UserResponse: 2, RequestID: "5:1", SendResponse: propose}), false},
		{"proposal at 16.1", V161, req(MeetingResponseItem{UserResponse: 3, RequestID: "5:1", SendResponse: propose}), true},
		{"proposal when accepting", V161, req(MeetingResponseItem{UserResponse: 1, RequestID: "5:1", SendResponse: propose}), false},
		{"proposal badly formed", V161, req(MeetingResponseItem{UserResponse: 2, RequestID: "5:1",
			SendResponse: &MeetingSendResponse{ProposedStartTime: "2024-04-03T10:00:00Z"}}), false},
		{"body type 9", V161, req(MeetingResponseItem{UserResponse: 2, RequestID: "5:1",
			SendResponse: &MeetingSendResponse{Body: &Body{Type: 9}}}), false},
		{"no request", V141, &MeetingResponseRequest{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "MeetingResponse", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func FuzzUnmarshalMeetingResponse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(MeetingResponseRequest) })
		fuzzRemarshal(t, data, func() any { return new(MeetingResponseResponse) })
	})
}
