package livekit

import (
	"errors"
	"reflect"
	"testing"

	lkproto "github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// The hand-written codec (wire.go) against LiveKit's generated types: what
// kioskd sends decodes as the SignalRequest it means, and what the server
// sends decodes to the fields kioskd reads. Test-only: the generated
// package stays out of the binary.

func decodeReq(t *testing.T, b []byte) *lkproto.SignalRequest {
	t.Helper()
	var r lkproto.SignalRequest
	if err := proto.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestRequestsDecodeAsLiveKits(t *testing.T) {
	if o := decodeReq(t, reqOfferMsg("v=0 offer")).GetOffer(); o.GetType() != "offer" || o.GetSdp() != "v=0 offer" {
		t.Errorf("offer: %v", o)
	}
	if a := decodeReq(t, reqAnswerMsg("v=0 answer")).GetAnswer(); a.GetType() != "answer" || a.GetSdp() != "v=0 answer" {
		t.Errorf("answer: %v", a)
	}
	tr := decodeReq(t, reqTrickleMsg(trickleMsg{CandidateInit: `{"candidate":"c"}`, Target: targetSubscriber, Final: true})).GetTrickle()
	if tr.GetCandidateInit() != `{"candidate":"c"}` || tr.GetTarget() != lkproto.SignalTarget_SUBSCRIBER || !tr.GetFinal() {
		t.Errorf("trickle: %v", tr)
	}
	at := decodeReq(t, reqAddTrackMsg(addTrackMsg{CID: "cid", Name: "camera", Type: trackVideo, Source: sourceCamera, Width: 640, Height: 480})).GetAddTrack()
	if at.GetCid() != "cid" || at.GetName() != "camera" || at.GetType() != lkproto.TrackType_VIDEO || at.GetSource() != lkproto.TrackSource_CAMERA || at.GetWidth() != 640 || at.GetHeight() != 480 {
		t.Errorf("add track: %v", at)
	}
	l := decodeReq(t, reqLeaveMsg(leaveMsg{Reason: ClientInitiated, Action: leaveDisconnect})).GetLeave()
	if l.GetReason() != lkproto.DisconnectReason_CLIENT_INITIATED || l.GetAction() != lkproto.LeaveRequest_DISCONNECT || l.GetCanReconnect() {
		t.Errorf("leave: %v", l)
	}
	if p := decodeReq(t, reqPingMsg(1234)); p.GetPing() != 1234 {
		t.Errorf("ping: %v", p)
	}
}

func encodeResp(t *testing.T, r *lkproto.SignalResponse) signalResponse {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestResponsesDecodeFromLiveKits(t *testing.T) {
	dp := &lkproto.ParticipantInfo{
		Sid: "PA_dp", Identity: "dp-1", State: lkproto.ParticipantInfo_ACTIVE, Kind: lkproto.ParticipantInfo_AGENT,
		Tracks: []*lkproto.TrackInfo{
			{Sid: "TR_a", Type: lkproto.TrackType_AUDIO, Name: "voice", Source: lkproto.TrackSource_MICROPHONE},
			{Sid: "TR_v", Type: lkproto.TrackType_VIDEO, Name: "face", Source: lkproto.TrackSource_CAMERA, Muted: true, Width: 160,
				MimeType: "video/H264", Codecs: []*lkproto.SimulcastCodecInfo{{MimeType: "video/H264", Mid: "1"}, {MimeType: "video/VP8"}}},
		},
		Attributes:       map[string]string{"lk.agent.state": "listening", "x": "y"},
		DisconnectReason: lkproto.DisconnectReason_ROOM_DELETED,
		Metadata:         "ignored",
	}
	wantDP := participantInfo{
		SID: "PA_dp", Identity: "dp-1", State: 2, Kind: kindAgent,
		Tracks: []trackInfo{
			{SID: "TR_a", Type: trackAudio, Name: "voice", Source: sourceMicrophone},
			{SID: "TR_v", Type: trackVideo, Name: "face", Source: sourceCamera, Muted: true,
				MimeTypes: []string{"video/H264", "video/H264", "video/VP8"}},
		},
		Attributes:       map[string]string{"lk.agent.state": "listening", "x": "y"},
		DisconnectReason: RoomDeleted,
	}
	j := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Join{Join: &lkproto.JoinResponse{
		Room:              &lkproto.Room{Sid: "RM_1", Name: "lobby", EmptyTimeout: 300},
		Participant:       &lkproto.ParticipantInfo{Sid: "PA_k", Identity: "kiosk-1"},
		OtherParticipants: []*lkproto.ParticipantInfo{dp},
		ServerVersion:     "1.13.5",
		IceServers:        []*lkproto.ICEServer{{Urls: []string{"turn:a", "turn:b"}, Username: "u", Credential: "c"}},
		SubscriberPrimary: true, PingTimeout: 15, PingInterval: 5,
		ClientConfiguration: &lkproto.ClientConfiguration{},
	}}}).Join
	want := &joinResponse{
		RoomSID: "RM_1", RoomName: "lobby", Participant: participantInfo{SID: "PA_k", Identity: "kiosk-1"},
		Others: []participantInfo{wantDP}, ServerVersion: "1.13.5",
		ICEServers:        []iceServer{{URLs: []string{"turn:a", "turn:b"}, Username: "u", Credential: "c"}},
		SubscriberPrimary: true, PingTimeoutSeconds: 15, PingIntervalSecond: 5,
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("join:\n got %+v\nwant %+v", j, want)
	}
	if o := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Offer{Offer: &lkproto.SessionDescription{Type: "offer", Sdp: "s", Id: 3}}}).Offer; o == nil || *o != (sessionDesc{"offer", "s"}) {
		t.Errorf("offer: %v", o)
	}
	if a := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Answer{Answer: &lkproto.SessionDescription{Type: "answer", Sdp: "s"}}}).Answer; a == nil || *a != (sessionDesc{"answer", "s"}) {
		t.Errorf("answer: %v", a)
	}
	if tr := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Trickle{Trickle: &lkproto.TrickleRequest{CandidateInit: "{}", Target: lkproto.SignalTarget_SUBSCRIBER}}}).Trickle; tr == nil || *tr != (trickleMsg{CandidateInit: "{}", Target: targetSubscriber}) {
		t.Errorf("trickle: %v", tr)
	}
	u := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Update{Update: &lkproto.ParticipantUpdate{Participants: []*lkproto.ParticipantInfo{dp}}}})
	if !u.UpdateSet || !reflect.DeepEqual(u.Update, []participantInfo{wantDP}) {
		t.Errorf("update: %+v", u.Update)
	}
	tp := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_TrackPublished{TrackPublished: &lkproto.TrackPublishedResponse{Cid: "cid", Track: &lkproto.TrackInfo{Sid: "TR_x", Type: lkproto.TrackType_VIDEO}}}}).TrackPublished
	if tp == nil || tp.CID != "cid" || tp.Track.SID != "TR_x" || tp.Track.Type != trackVideo {
		t.Errorf("track published: %+v", tp)
	}
	l := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Leave{Leave: &lkproto.LeaveRequest{CanReconnect: true, Reason: lkproto.DisconnectReason_SERVER_SHUTDOWN, Action: lkproto.LeaveRequest_RESUME}}}).Leave
	if l == nil || *l != (leaveMsg{CanReconnect: true, Reason: ServerShutdown, Action: leaveResume}) {
		t.Errorf("leave: %+v", l)
	}
	if !encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Pong{Pong: 5}}).Pong ||
		!encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_PongResp{PongResp: &lkproto.Pong{Timestamp: 1}}}).Pong {
		t.Error("pong not seen")
	}
	if o := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_SpeakersChanged{SpeakersChanged: &lkproto.SpeakersChanged{}}}).Other; o != 10 {
		t.Errorf("speakers changed: other %d", o)
	}
	rt := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_RefreshToken{RefreshToken: "a.b.c"}})
	if rt.RefreshToken != "a.b.c" || rt.Other != 0 {
		t.Errorf("refresh token: %+v", rt)
	}
	rc := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Reconnect{Reconnect: &lkproto.ReconnectResponse{
		IceServers:          []*lkproto.ICEServer{{Urls: []string{"stun:s"}}},
		ClientConfiguration: &lkproto.ClientConfiguration{}, ServerInfo: &lkproto.ServerInfo{Version: "1.13.5"}, LastMessageSeq: 7,
	}}}).Reconnect
	if rc == nil || !reflect.DeepEqual(rc.ICEServers, []iceServer{{URLs: []string{"stun:s"}}}) {
		t.Errorf("reconnect: %+v", rc)
	}
	for i := range reasonNames {
		if got, want := DisconnectReason(i).String(), lkproto.DisconnectReason(i).String(); got != want {
			t.Errorf("reason %d: %s, want %s", i, got, want)
		}
	}
}

// Garbage is an error, never a panic.
func TestMalformedResponse(t *testing.T) {
	for _, b := range [][]byte{{0x0a, 0x05, 0x01}, {0xff}, {0x0a, 0x02, 0x12, 0x09}} {
		if _, err := decodeResponse(b); err == nil {
			t.Errorf("%x decoded", b)
		}
	}
}

// Whatever the server sends, decoding returns a message or ErrWire: it
// never panics (the signal channel is input from the network).
func FuzzDecodeResponse(f *testing.F) {
	for _, m := range []proto.Message{
		&lkproto.SignalResponse{Message: &lkproto.SignalResponse_Join{Join: &lkproto.JoinResponse{
			Room: &lkproto.Room{Sid: "RM", Name: "r"}, OtherParticipants: []*lkproto.ParticipantInfo{{Sid: "PA", Attributes: map[string]string{"a": "b"}, Tracks: []*lkproto.TrackInfo{{Sid: "TR"}}}},
			IceServers: []*lkproto.ICEServer{{Urls: []string{"turn:x"}}}, PingInterval: 5,
		}}},
		&lkproto.SignalResponse{Message: &lkproto.SignalResponse_Update{Update: &lkproto.ParticipantUpdate{Participants: []*lkproto.ParticipantInfo{{Identity: "dp", State: lkproto.ParticipantInfo_DISCONNECTED}}}}},
		&lkproto.SignalResponse{Message: &lkproto.SignalResponse_Leave{Leave: &lkproto.LeaveRequest{Reason: lkproto.DisconnectReason_ROOM_DELETED}}},
		&lkproto.SignalResponse{Message: &lkproto.SignalResponse_Trickle{Trickle: &lkproto.TrickleRequest{CandidateInit: "{}"}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeResponse(b); err != nil && !errors.Is(err, ErrWire) {
			t.Fatalf("%v is not ErrWire", err)
		}
	})
}

// The DP's lk.agent.state reaches participantInfo.Attributes from every
// participant update, each of LiveKit's agent states, beside other
// attributes; an update without attributes (the agent cleared them) has
// none, and an entry with an empty value keeps its key.
func TestAgentStateAttribute(t *testing.T) {
	update := func(attrs map[string]string) participantInfo {
		u := encodeResp(t, &lkproto.SignalResponse{Message: &lkproto.SignalResponse_Update{Update: &lkproto.ParticipantUpdate{Participants: []*lkproto.ParticipantInfo{
			{Sid: "PA_other", Identity: "visitor", Attributes: map[string]string{AttrAgentState: "speaking"}},
			{Sid: "PA_dp", Identity: "dp", Kind: lkproto.ParticipantInfo_AGENT, Attributes: attrs},
		}}}})
		if len(u.Update) != 2 || u.Update[0].Attributes[AttrAgentState] != "speaking" {
			t.Fatalf("update %+v", u.Update)
		}
		return u.Update[1]
	}
	for _, s := range []string{"initializing", "idle", "listening", "thinking", "speaking"} {
		p := update(map[string]string{AttrAgentState: s, AttrPublishOnBehalf: "agent-1", "lk.transcription": "x"})
		if p.Attributes[AttrAgentState] != s || p.Attributes[AttrPublishOnBehalf] != "agent-1" || len(p.Attributes) != 3 {
			t.Errorf("%s: attributes %v", s, p.Attributes)
		}
	}
	if p := update(nil); p.Attributes != nil {
		t.Errorf("no attributes: %v", p.Attributes)
	}
	if v, ok := update(map[string]string{AttrAgentState: ""}).Attributes[AttrAgentState]; !ok || v != "" {
		t.Errorf("empty value: %q %v", v, ok)
	}
}

// The DP's video counts for Connected only in a codec the kiosk receives
// (VP8, as primary or as a simulcast backup) or while its codec is not
// known yet; a face in H.264 or AV1 alone would never arrive.
func TestWantedTracks(t *testing.T) {
	voice := trackInfo{SID: "TR_a", Type: trackAudio, MimeTypes: []string{"audio/red"}}
	for _, tc := range []struct {
		name         string
		face         trackInfo
		wantVideo    bool
		unreceivable int
	}{
		{"VP8", trackInfo{SID: "TR_v", Type: trackVideo, MimeTypes: []string{"video/VP8"}}, true, 0},
		{"vp8 in lower case", trackInfo{SID: "TR_v", Type: trackVideo, MimeTypes: []string{"video/vp8"}}, true, 0},
		{"codec not known yet", trackInfo{SID: "TR_v", Type: trackVideo}, true, 0},
		{"H.264 with a VP8 backup", trackInfo{SID: "TR_v", Type: trackVideo, MimeTypes: []string{"video/H264", "video/H264", "video/VP8"}}, true, 0},
		{"H.264 alone", trackInfo{SID: "TR_v", Type: trackVideo, MimeTypes: []string{"video/H264"}}, false, 1},
		{"AV1 alone", trackInfo{SID: "TR_v", Type: trackVideo, MimeTypes: []string{"video/AV1", "video/AV1"}}, false, 1},
	} {
		want, skipped := wantedTracks([]trackInfo{voice, tc.face})
		if !want[webrtc.RTPCodecTypeAudio] || want[webrtc.RTPCodecTypeVideo] != tc.wantVideo || len(skipped) != tc.unreceivable {
			t.Errorf("%s: want %v, unreceivable %v", tc.name, want, skipped)
		}
	}
}
