// Package dpwire is the wire format of kioskd.dp.v1, the open signalling
// protocol of docs/PROTOCOL.md: its typed messages, their strict codec and
// its limits. It imports only the standard library, so the client dialect
// (dialect/dpv1) and the reference server (dpsim) share the vocabulary of
// the document and nothing else.
package dpwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Subprotocol is the websocket subprotocol of this protocol version. A major
// version change gets a new subprotocol; both sides refuse what they do not speak.
const Subprotocol = "kioskd.dp.v1"

// ProtocolVersion is the version documented in docs/PROTOCOL.md.
const ProtocolVersion = "1.5"

// MaxFrameSize is the largest text frame either side accepts (64 KiB).
// An SDP with a few codecs is 3-8 KiB; nothing legitimate comes near it.
const MaxFrameSize = 64 << 10

// MaxCandidates is the most ICE candidates a side sends on one connection
// (its end marker not counted), before and after the answer together. A
// host has a candidate or two per interface, address family and protocol,
// plus server-reflexive and relay ones: a few dozen at most. Each one
// applied costs the receiver an ICE candidate pair per local candidate and
// a goroutine or more in a WebRTC stack, so the limit is what bounds a
// peer's flood (docs/PROTOCOL.md section 3.1).
const MaxCandidates = 64

// Message types.
const (
	TypeHello     = "hello"
	TypeSession   = "session"
	TypeProgress  = "progress"
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypeReady     = "ready"
	TypePing      = "ping"
	TypePong      = "pong"
	TypeClose     = "close"
)

// Message is one typed protocol message.
type Message interface {
	// MessageType is the value of the "type" field.
	MessageType() string
}

// Hello opens a session (client to server, first message). Resume names a
// stored session to resume; empty asks for a fresh one.
type Hello struct {
	Resume string     `json:"resume,omitempty"`
	Client ClientInfo `json:"client"`
}

// ClientInfo describes the kiosk, for the server's logs.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Video   bool   `json:"video"`
	Audio   bool   `json:"audio"`
	// KioskID is a stable id of this kiosk (kioskd: a hash of its machine
	// id), optional (CheckKioskID). It is never a member of hello: peers
	// before 1.4 reject unknown members, so it travels in the upgrade's
	// KioskIDHeader (docs/PROTOCOL.md section 2.5).
	KioskID string `json:"-"`
}

// KioskIDHeader carries ClientInfo.KioskID in the upgrade request (since
// 1.4): an optional carrier a server before 1.4 ignores.
const KioskIDHeader = "Kioskd-Kiosk-Id"

// MaxKioskID bounds the kiosk id.
const MaxKioskID = 64

// CheckKioskID says what is wrong with a kiosk id: at most MaxKioskID
// bytes of letters, digits, '.', '_' and '-'.
func CheckKioskID(id string) error {
	if len(id) > MaxKioskID {
		return fmt.Errorf("kiosk id longer than %d bytes", MaxKioskID)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errors.New("kiosk id holds a character other than letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// Session assigns the session id (server to client, answer to Hello).
type Session struct {
	SessionID string `json:"session_id"`
	Resumed   bool   `json:"resumed"`
	// HeartbeatMS is the ping interval both sides use, MinHeartbeat to
	// MaxHeartbeat in milliseconds; 0 means DefaultHeartbeat.
	HeartbeatMS int `json:"heartbeat_ms,omitempty"`
}

// Progress reports a connection step (server to client).
type Progress struct {
	State string `json:"state"` // SearchingForDigitalPerson | DownloadingAssets | ConnectingToDigitalPerson
	// QueuePosition is 0 (not queued) to MaxQueuePosition.
	QueuePosition int `json:"queue_position,omitempty"`
}

// MaxQueuePosition is the largest queue_position: a queue is of visitors
// waiting in front of kiosks, and no server's is anywhere near as long.
const MaxQueuePosition = 65535

// MaxSeq is the largest ping and pong seq, 2^53 - 1: the largest integer
// a JSON number keeps exactly in JavaScript (Number.MAX_SAFE_INTEGER), so
// that a peer written in it echoes the seq it was sent. A counter that
// starts at 1 and counts one ping per second reaches it in 285 million
// years.
const MaxSeq = 1<<53 - 1

// Offer carries the client's SDP offer.
type Offer struct {
	SDP string `json:"sdp"`
}

// Answer carries the server's SDP answer.
type Answer struct {
	SDP string `json:"sdp"`
}

// Candidate is one trickled ICE candidate, either way, with SDPMid or
// SDPMLineIndex or both. End marks that no more candidates follow (the
// other fields are then absent).
type Candidate struct {
	Candidate     string  `json:"candidate,omitempty"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	End           bool    `json:"end,omitempty"`
}

// Ready says the Digital Person is up (server to client). The client is
// Connected once it has Ready and its PeerConnection is connected.
type Ready struct{}

// Ping asks the peer for a Pong with the same Seq.
type Ping struct {
	Seq uint64 `json:"seq"`
}

// Pong answers a Ping.
type Pong struct {
	Seq uint64 `json:"seq"`
}

// Close ends the session's control channel with a reason: before Connected
// an error name of docs/BEHAVIOUR.md section 2, after it a disconnect reason of section 3.
type Close struct {
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

func (Hello) MessageType() string     { return TypeHello }
func (Session) MessageType() string   { return TypeSession }
func (Progress) MessageType() string  { return TypeProgress }
func (Offer) MessageType() string     { return TypeOffer }
func (Answer) MessageType() string    { return TypeAnswer }
func (Candidate) MessageType() string { return TypeCandidate }
func (Ready) MessageType() string     { return TypeReady }
func (Ping) MessageType() string      { return TypePing }
func (Pong) MessageType() string      { return TypePong }
func (Close) MessageType() string     { return TypeClose }

// Errors of the codec.
var (
	ErrMalformed   = errors.New("signalling: malformed message")
	ErrUnknownType = errors.New("signalling: unknown message type")
	ErrTooLarge    = errors.New("signalling: frame larger than the limit")
)

// UnknownTypeError is Decode's error for a frame whose type this version
// does not define; it wraps ErrUnknownType. A receiver logs and ignores
// such frames (docs/PROTOCOL.md section 12.2), and may use Type to log each
// type once.
type UnknownTypeError struct {
	// Type is the frame's "type" as shown in logs: whole if it is a
	// short plain name, else only its length ("(120 bytes)"), never cut
	// or escaped, so a token the peer echoes there is logged whole (and
	// redacted) or not at all.
	Type string
}

func (e *UnknownTypeError) Error() string { return fmt.Sprintf("%v: %s", ErrUnknownType, e.Type) }
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownType }

// Encode renders m as one JSON text frame.
func Encode(m Message) ([]byte, error) {
	// No HTML escaping: this is not HTML, and escaping '<', '>' and '&'
	// as \u003c… makes a frame up to six times larger than what decoded,
	// pushing a message that arrived within MaxFrameSize past it.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	// Splice "type" in front: {"type":"x", ...fields}
	head := fmt.Sprintf(`{"type":%q`, m.MessageType())
	if string(body) == "{}" {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), body[1:]...), nil
}

// Decode parses one frame strictly: it must be one JSON object with a known
// "type", no unknown fields, and fit MaxFrameSize. An unknown type gives an
// error wrapping ErrUnknownType (a receiver may log and ignore it); anything
// else wrong gives ErrMalformed.
func Decode(frame []byte) (Message, error) {
	if len(frame) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(frame))
	}
	// JSON text is UTF-8 (RFC 8259, docs/PROTOCOL.md section 3); encoding/json
	// would silently turn invalid bytes into U+FFFD instead.
	if !utf8.Valid(frame) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	var env struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Type == nil {
		return nil, fmt.Errorf("%w: no \"type\" field", ErrMalformed)
	}
	var m Message
	switch *env.Type {
	case TypeHello:
		m = &Hello{}
	case TypeSession:
		m = &Session{}
	case TypeProgress:
		m = &Progress{}
	case TypeOffer:
		m = &Offer{}
	case TypeAnswer:
		m = &Answer{}
	case TypeCandidate:
		m = &Candidate{}
	case TypeReady:
		m = &Ready{}
	case TypePing:
		m = &Ping{}
	case TypePong:
		m = &Pong{}
	case TypeClose:
		m = &Close{}
	case TypeICEServers:
		m = &ICEServers{}
	case TypeICERestart:
		m = &ICERestart{}
	case TypeConversationState:
		m = &ConversationState{}
	default:
		return nil, &UnknownTypeError{Type: shown(*env.Type)}
	}
	if err := noNull(frame); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, *env.Type, err)
	}
	if err := strictUnmarshal(frame, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, *env.Type, err)
	}
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, *env.Type, err)
	}
	return deref(m), nil
}

// shown is how a string the peer chose appears in an error: whole, if it
// is a short plain name (letters, digits, "_.:-", at most 64 bytes), or
// else only its length. Never truncated or escaped: the log's redactor
// must see a token the peer echoes whole, or not at all.
func shown(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return fmt.Sprintf("(%d bytes)", len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.:-", r)) {
			return fmt.Sprintf("(%d bytes)", len(s))
		}
	}
	return s
}

// noNull rejects a JSON null anywhere in a frame: no member of any message
// may be null (docs/PROTOCOL.md section 3). encoding/json would read it as
// the member's zero value, as if it had been omitted.
func noNull(frame []byte) error {
	dec := json.NewDecoder(bytes.NewReader(frame))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if tok == nil {
			return errors.New("null is not a value of any member")
		}
	}
}

// strictUnmarshal rejects unknown fields (other than "type").
func strictUnmarshal(frame []byte, into Message) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(frame, &raw); err != nil {
		return err
	}
	delete(raw, "type")
	rest, _ := json.Marshal(raw)
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	// encoding/json quotes the unknown field's name, escaped: say it the
	// way shown does instead.
	if q, ok := strings.CutPrefix(fmt.Sprint(err), "json: unknown field "); ok {
		name, uerr := strconv.Unquote(q)
		if uerr != nil {
			name = q
		}
		return fmt.Errorf("unknown field %s", shown(name))
	}
	return err
}

func validate(m Message) error {
	switch v := m.(type) {
	case *Session:
		if v.SessionID == "" {
			return errors.New("empty session_id")
		}
		if len(v.SessionID) > 256 {
			return errors.New("session_id longer than 256 bytes")
		}
		if v.HeartbeatMS != 0 && (v.HeartbeatMS < int(MinHeartbeat/time.Millisecond) || v.HeartbeatMS > int(MaxHeartbeat/time.Millisecond)) {
			return fmt.Errorf("heartbeat_ms %d out of %d..%d", v.HeartbeatMS, MinHeartbeat/time.Millisecond, MaxHeartbeat/time.Millisecond)
		}
	case *Progress:
		switch v.State {
		case "SearchingForDigitalPerson", "DownloadingAssets", "ConnectingToDigitalPerson":
		default:
			return fmt.Errorf("unknown state %s", shown(v.State))
		}
		if v.QueuePosition < 0 || v.QueuePosition > MaxQueuePosition {
			return fmt.Errorf("queue_position %d out of 0..%d", v.QueuePosition, MaxQueuePosition)
		}
	case *Offer:
		if v.SDP == "" {
			return errors.New("empty sdp")
		}
	case *Answer:
		if v.SDP == "" {
			return errors.New("empty sdp")
		}
	case *ICERestart:
		if v.SDP == "" {
			return errors.New("empty sdp")
		}
	case *Candidate:
		switch {
		case v.End && (v.Candidate != "" || v.SDPMid != nil || v.SDPMLineIndex != nil):
			return errors.New("an end marker with a candidate, sdpMid or sdpMLineIndex")
		case v.End:
		case v.Candidate == "":
			return errors.New("neither candidate nor end")
		case v.SDPMid == nil && v.SDPMLineIndex == nil:
			// As in WebRTC (addIceCandidate throws a TypeError): the
			// receiver could not tell which media section it is for.
			return errors.New("a candidate with neither sdpMid nor sdpMLineIndex")
		}
	case *Ping:
		if v.Seq > MaxSeq {
			return fmt.Errorf("seq %d past 2^53-1", v.Seq)
		}
	case *Pong:
		if v.Seq > MaxSeq {
			return fmt.Errorf("seq %d past 2^53-1", v.Seq)
		}
	case *Close:
		if v.Reason == "" {
			return errors.New("empty reason")
		}
	case *Hello:
		if len(v.Resume) > 256 {
			return errors.New("resume longer than 256 bytes")
		}
	case *ICEServers:
		return v.check()
	case *ConversationState:
		return v.check()
	}
	return nil
}

// deref returns the message by value, so receivers switch on plain types.
func deref(m Message) Message {
	switch v := m.(type) {
	case *Hello:
		return *v
	case *Session:
		return *v
	case *Progress:
		return *v
	case *Offer:
		return *v
	case *Answer:
		return *v
	case *Candidate:
		return *v
	case *Ready:
		return *v
	case *Ping:
		return *v
	case *Pong:
		return *v
	case *Close:
		return *v
	case *ICEServers:
		return *v
	case *ICERestart:
		return *v
	case *ConversationState:
		return *v
	}
	return m
}
