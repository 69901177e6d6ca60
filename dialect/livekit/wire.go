package livekit

// The signal channel's messages, encoded and decoded by hand with
// protowire: only the fields kioskd reads or writes of LiveKit's
// SignalRequest and SignalResponse (livekit_rtc.proto, livekit_models.proto
// of github.com/livekit/protocol; the field numbers are theirs).
//
// Why not the generated types of github.com/livekit/protocol/livekit: that
// package registers several hundred protobuf descriptors at start and
// links psrpc, nats, redis, grpc, cel and zap, which raised a Connected
// kiosk's steady PSS from 34 to 43.7 MiB even with nothing of it used,
// past the 40 MB target (docs/LIVEKIT.md, "Measurements"). The protobuf
// runtime's wire package is already linked (by the metrics). wire_test.go
// checks every message here against the generated types, both ways.

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrWire: a signal message kioskd cannot decode.
var ErrWire = errors.New("livekit: malformed signal message")

// Enumerations of the protocol, as numbers on the wire.
const (
	targetPublisher  = 0 // SignalTarget
	targetSubscriber = 1

	trackAudio = 0 // TrackType
	trackVideo = 1

	sourceCamera     = 1 // TrackSource
	sourceMicrophone = 2

	stateDisconnected = 3 // ParticipantInfo.State

	kindAgent = 4 // ParticipantInfo.Kind

	leaveDisconnect = 0 // LeaveRequest.Action
	leaveResume     = 1
	leaveReconnect  = 2
)

// DisconnectReason is LiveKit's (livekit_models.proto), the reason the
// server gives when a participant or the kiosk leaves a room.
type DisconnectReason int32

// The reasons kioskd maps (docs/LIVEKIT.md); others print as their number.
const (
	UnknownReason      DisconnectReason = 0
	ClientInitiated    DisconnectReason = 1
	DuplicateIdentity  DisconnectReason = 2
	ServerShutdown     DisconnectReason = 3
	ParticipantRemoved DisconnectReason = 4
	RoomDeleted        DisconnectReason = 5
	StateMismatch      DisconnectReason = 6
	JoinFailure        DisconnectReason = 7
	Migration          DisconnectReason = 8
	SignalClose        DisconnectReason = 9
	RoomClosed         DisconnectReason = 10
	UserUnavailable    DisconnectReason = 11
	UserRejected       DisconnectReason = 12
	SIPTrunkFailure    DisconnectReason = 13
	ConnectionTimeout  DisconnectReason = 14
	MediaFailure       DisconnectReason = 15
	AgentError         DisconnectReason = 16
)

var reasonNames = [...]string{
	"UNKNOWN_REASON", "CLIENT_INITIATED", "DUPLICATE_IDENTITY", "SERVER_SHUTDOWN",
	"PARTICIPANT_REMOVED", "ROOM_DELETED", "STATE_MISMATCH", "JOIN_FAILURE", "MIGRATION",
	"SIGNAL_CLOSE", "ROOM_CLOSED", "USER_UNAVAILABLE", "USER_REJECTED", "SIP_TRUNK_FAILURE",
	"CONNECTION_TIMEOUT", "MEDIA_FAILURE", "AGENT_ERROR",
}

// String is the protocol's name of the reason.
func (r DisconnectReason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("DisconnectReason(%d)", int32(r))
}

// sessionDesc is a SessionDescription (type "offer" or "answer").
type sessionDesc struct {
	Type, SDP string
}

// trickleMsg is a TrickleRequest: a candidate (RTCIceCandidateInit as
// JSON) for the publisher or the subscriber PeerConnection.
type trickleMsg struct {
	CandidateInit string
	Target        int32
	Final         bool
}

// addTrackMsg is an AddTrackRequest.
type addTrackMsg struct {
	CID, Name     string
	Type, Source  int32
	Width, Height uint32
}

// leaveMsg is a LeaveRequest.
type leaveMsg struct {
	CanReconnect bool
	Reason       DisconnectReason
	Action       int32
}

type trackInfo struct {
	SID, Name    string
	Type, Source int32
	Muted        bool
	// MimeTypes are the codecs the track is published in: its mime_type
	// and those of its simulcast codecs (a primary and a backup); none
	// until the server knows.
	MimeTypes []string
}

type participantInfo struct {
	SID, Identity    string
	State, Kind      int32
	Tracks           []trackInfo
	Attributes       map[string]string
	DisconnectReason DisconnectReason
}

type iceServer struct {
	URLs                 []string
	Username, Credential string
}

type joinResponse struct {
	RoomSID, RoomName  string
	Participant        participantInfo
	Others             []participantInfo
	ServerVersion      string
	ICEServers         []iceServer
	SubscriberPrimary  bool
	PingTimeoutSeconds int32
	PingIntervalSecond int32
}

// reconnectResponse is the ReconnectResponse: the ICE servers for the
// PeerConnections that the resume keeps.
type reconnectResponse struct {
	ICEServers []iceServer
}

type trackPublished struct {
	CID   string
	Track trackInfo
}

// signalResponse is one SignalResponse: at most one field is set (a oneof);
// none for the messages kioskd does not read.
type signalResponse struct {
	Join           *joinResponse
	Answer, Offer  *sessionDesc
	Trickle        *trickleMsg
	Update         []participantInfo // ParticipantUpdate
	UpdateSet      bool
	TrackPublished *trackPublished
	Leave          *leaveMsg
	Pong           bool
	// RefreshToken is a new access token for the next resume or rejoin
	// (the server sends one as the old one nears its expiry): a secret.
	RefreshToken string
	// Reconnect is the ReconnectResponse, the first message of a resumed
	// signal channel (reconnect=1).
	Reconnect *reconnectResponse
	Other     protowire.Number // the field of a message kioskd does not read (0: none)
}

// SignalRequest fields.
const (
	reqOffer    = 1
	reqAnswer   = 2
	reqTrickle  = 3
	reqAddTrack = 4
	reqLeave    = 8
	reqPing     = 14
)

func appendString(b []byte, n protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, n protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, n protowire.Number, v bool) []byte {
	return appendVarint(b, n, protowire.EncodeBool(v))
}

func appendMessage(b []byte, n protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func (d sessionDesc) encode() []byte {
	b := appendString(nil, 1, d.Type)
	return appendString(b, 2, d.SDP)
}

func (t trickleMsg) encode() []byte {
	b := appendString(nil, 1, t.CandidateInit)
	b = appendVarint(b, 2, uint64(t.Target))
	return appendBool(b, 3, t.Final)
}

func (a addTrackMsg) encode() []byte {
	b := appendString(nil, 1, a.CID)
	b = appendString(b, 2, a.Name)
	b = appendVarint(b, 3, uint64(a.Type))
	b = appendVarint(b, 4, uint64(a.Width))
	b = appendVarint(b, 5, uint64(a.Height))
	return appendVarint(b, 8, uint64(a.Source))
}

func (l leaveMsg) encode() []byte {
	b := appendBool(nil, 1, l.CanReconnect)
	b = appendVarint(b, 2, uint64(l.Reason))
	return appendVarint(b, 3, uint64(l.Action))
}

// Encoders of the SignalRequests kioskd sends.
func reqOfferMsg(sdp string) []byte {
	return appendMessage(nil, reqOffer, sessionDesc{"offer", sdp}.encode())
}
func reqAnswerMsg(sdp string) []byte {
	return appendMessage(nil, reqAnswer, sessionDesc{"answer", sdp}.encode())
}
func reqTrickleMsg(t trickleMsg) []byte { return appendMessage(nil, reqTrickle, t.encode()) }
func reqAddTrackMsg(a addTrackMsg) []byte {
	return appendMessage(nil, reqAddTrack, a.encode())
}
func reqLeaveMsg(l leaveMsg) []byte { return appendMessage(nil, reqLeave, l.encode()) }
func reqPingMsg(unixMilli int64) []byte {
	b := protowire.AppendTag(nil, reqPing, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(unixMilli))
}

// fields walks a message's fields, calling f with each field's number,
// type and value: the varint for VarintType, the bytes for BytesType
// (other types are skipped).
func fields(b []byte, f func(n protowire.Number, t protowire.Type, v uint64, bs []byte) error) error {
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return ErrWire
		}
		b = b[l:]
		var v uint64
		var bs []byte
		switch t {
		case protowire.VarintType:
			v, l = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			bs, l = protowire.ConsumeBytes(b)
		default:
			l = protowire.ConsumeFieldValue(n, t, b)
		}
		if l < 0 {
			return ErrWire
		}
		b = b[l:]
		if t == protowire.VarintType || t == protowire.BytesType {
			if err := f(n, t, v, bs); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeSessionDesc(b []byte) (*sessionDesc, error) {
	d := &sessionDesc{}
	return d, fields(b, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
		switch {
		case n == 1 && t == protowire.BytesType:
			d.Type = string(bs)
		case n == 2 && t == protowire.BytesType:
			d.SDP = string(bs)
		}
		return nil
	})
}

func decodeTrickle(b []byte) (*trickleMsg, error) {
	m := &trickleMsg{}
	return m, fields(b, func(n protowire.Number, t protowire.Type, v uint64, bs []byte) error {
		switch {
		case n == 1 && t == protowire.BytesType:
			m.CandidateInit = string(bs)
		case n == 2 && t == protowire.VarintType:
			m.Target = int32(v)
		case n == 3 && t == protowire.VarintType:
			m.Final = v != 0
		}
		return nil
	})
}

func decodeLeave(b []byte) (*leaveMsg, error) {
	m := &leaveMsg{}
	return m, fields(b, func(n protowire.Number, t protowire.Type, v uint64, _ []byte) error {
		if t != protowire.VarintType {
			return nil
		}
		switch n {
		case 1:
			m.CanReconnect = v != 0
		case 2:
			m.Reason = DisconnectReason(int32(v))
		case 3:
			m.Action = int32(v)
		}
		return nil
	})
}

func decodeTrack(b []byte) (trackInfo, error) {
	var m trackInfo
	return m, fields(b, func(n protowire.Number, t protowire.Type, v uint64, bs []byte) error {
		switch {
		case n == 1 && t == protowire.BytesType:
			m.SID = string(bs)
		case n == 2 && t == protowire.VarintType:
			m.Type = int32(v)
		case n == 3 && t == protowire.BytesType:
			m.Name = string(bs)
		case n == 4 && t == protowire.VarintType:
			m.Muted = v != 0
		case n == 9 && t == protowire.VarintType:
			m.Source = int32(v)
		case n == 11 && t == protowire.BytesType && len(bs) > 0:
			m.MimeTypes = append(m.MimeTypes, string(bs))
		case n == 13 && t == protowire.BytesType: // SimulcastCodecInfo
			return fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				if n == 1 && t == protowire.BytesType && len(bs) > 0 {
					m.MimeTypes = append(m.MimeTypes, string(bs))
				}
				return nil
			})
		}
		return nil
	})
}

func decodeParticipant(b []byte) (participantInfo, error) {
	var m participantInfo
	err := fields(b, func(n protowire.Number, t protowire.Type, v uint64, bs []byte) error {
		switch {
		case n == 1 && t == protowire.BytesType:
			m.SID = string(bs)
		case n == 2 && t == protowire.BytesType:
			m.Identity = string(bs)
		case n == 3 && t == protowire.VarintType:
			m.State = int32(v)
		case n == 4 && t == protowire.BytesType:
			tr, err := decodeTrack(bs)
			if err != nil {
				return err
			}
			m.Tracks = append(m.Tracks, tr)
		case n == 14 && t == protowire.VarintType:
			m.Kind = int32(v)
		case n == 15 && t == protowire.BytesType:
			var k, val string
			if err := fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				switch {
				case n == 1 && t == protowire.BytesType:
					k = string(bs)
				case n == 2 && t == protowire.BytesType:
					val = string(bs)
				}
				return nil
			}); err != nil {
				return err
			}
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[k] = val
		case n == 16 && t == protowire.VarintType:
			m.DisconnectReason = DisconnectReason(int32(v))
		}
		return nil
	})
	return m, err
}

func decodeICEServer(b []byte) (iceServer, error) {
	var m iceServer
	return m, fields(b, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
		if t != protowire.BytesType {
			return nil
		}
		switch n {
		case 1:
			m.URLs = append(m.URLs, string(bs))
		case 2:
			m.Username = string(bs)
		case 3:
			m.Credential = string(bs)
		}
		return nil
	})
}

func decodeJoin(b []byte) (*joinResponse, error) {
	m := &joinResponse{}
	return m, fields(b, func(n protowire.Number, t protowire.Type, v uint64, bs []byte) error {
		var err error
		switch {
		case n == 1 && t == protowire.BytesType: // Room
			err = fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				switch {
				case n == 1 && t == protowire.BytesType:
					m.RoomSID = string(bs)
				case n == 2 && t == protowire.BytesType:
					m.RoomName = string(bs)
				}
				return nil
			})
		case n == 2 && t == protowire.BytesType:
			m.Participant, err = decodeParticipant(bs)
		case n == 3 && t == protowire.BytesType:
			var p participantInfo
			if p, err = decodeParticipant(bs); err == nil {
				m.Others = append(m.Others, p)
			}
		case n == 4 && t == protowire.BytesType:
			m.ServerVersion = string(bs)
		case n == 5 && t == protowire.BytesType:
			var s iceServer
			if s, err = decodeICEServer(bs); err == nil {
				m.ICEServers = append(m.ICEServers, s)
			}
		case n == 6 && t == protowire.VarintType:
			m.SubscriberPrimary = v != 0
		case n == 10 && t == protowire.VarintType:
			m.PingTimeoutSeconds = int32(v)
		case n == 11 && t == protowire.VarintType:
			m.PingIntervalSecond = int32(v)
		}
		return err
	})
}

// decodeResponse decodes one SignalResponse.
func decodeResponse(b []byte) (signalResponse, error) {
	var r signalResponse
	err := fields(b, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
		var err error
		if t != protowire.BytesType {
			if n == 18 { // pong (int64)
				r.Pong = true
			} else {
				r.Other = n
			}
			return nil
		}
		switch n {
		case 1:
			r.Join, err = decodeJoin(bs)
		case 2:
			r.Answer, err = decodeSessionDesc(bs)
		case 3:
			r.Offer, err = decodeSessionDesc(bs)
		case 4:
			r.Trickle, err = decodeTrickle(bs)
		case 5:
			r.UpdateSet = true
			err = fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				if n != 1 || t != protowire.BytesType {
					return nil
				}
				p, err := decodeParticipant(bs)
				r.Update = append(r.Update, p)
				return err
			})
		case 6:
			tp := &trackPublished{}
			err = fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				var err error
				switch {
				case n == 1 && t == protowire.BytesType:
					tp.CID = string(bs)
				case n == 2 && t == protowire.BytesType:
					tp.Track, err = decodeTrack(bs)
				}
				return err
			})
			r.TrackPublished = tp
		case 8:
			r.Leave, err = decodeLeave(bs)
		case 16:
			r.RefreshToken = string(bs)
		case 19:
			rr := &reconnectResponse{}
			err = fields(bs, func(n protowire.Number, t protowire.Type, _ uint64, bs []byte) error {
				if n != 1 || t != protowire.BytesType {
					return nil
				}
				s, err := decodeICEServer(bs)
				rr.ICEServers = append(rr.ICEServers, s)
				return err
			})
			r.Reconnect = rr
		case 20: // pong_resp (Pong)
			r.Pong = true
		default:
			r.Other = n
		}
		return err
	})
	if err != nil {
		return signalResponse{}, ErrWire
	}
	return r, nil
}
