package dpsim

import (
	"github.com/kioskd/kioskd/dpwire"

	"time"
)

// Session states as the server sees them: the four steps of
// docs/BEHAVIOUR.md section 1 while a control socket is attached, then Disconnected (no socket, still
// resumable) or Ended.
const (
	StateSearching    = string(StepSearching)
	StateAssets       = string(StepAssets)
	StateConnecting   = string(StepConnecting)
	StateConnected    = string(StepConnected)
	StateDisconnected = "Disconnected"
	StateEnded        = "Ended"
)

// Why a session ended (SessionInfo.EndReason), besides the close reasons
// the server sent.
const (
	EndExpired    = "resumeWindowExpired" // Disconnected for longer than the resume window
	EndSocketLost = "socketLost"          // the socket ended before the session was ever Connected
	EndShutdown   = "serverShutdown"      // Server.Close
)

// SessionInfo is one session as GET /sessions shows it.
type SessionInfo struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Connected: the session is Connected right now (ready sent, the
	// server's PeerConnection connected, control socket open).
	Connected bool `json:"connected"`
	// Resumable: the session can be resumed now or, while its socket is
	// open, after it ends (it has been Connected and has not ended).
	Resumable bool `json:"resumable"`
	// Resumes counts successful resumes; Attempts counts the hellos that
	// named this session (the first and every resume attempt, also refused ones).
	Resumes  int `json:"resumes"`
	Attempts int `json:"attempts"`
	// Connects counts the times it became Connected.
	Connects int        `json:"connects"`
	Video    VideoStats `json:"video"`
	Audio    AudioStats `json:"audio"`
	// LastCloseReason is the reason of the last `close` the client sent.
	LastCloseReason string `json:"last_close_reason"`
	// SentCloseReason is the reason of the last `close` the server sent.
	SentCloseReason string `json:"sent_close_reason,omitempty"`
	// EndReason says why an Ended session ended: a close reason the server
	// sent, or EndExpired, EndSocketLost, EndShutdown.
	EndReason string `json:"end_reason,omitempty"`
	// Conversation is the DP's conversation state the admin set last
	// (POST /conversation), "" if never.
	Conversation string     `json:"conversation_state,omitempty"`
	Client       ClientView `json:"client"`
	Created      time.Time  `json:"created"`
}

// ClientView is the kiosk as it described itself: hello's client, and
// the kiosk id of the upgrade's Kioskd-Kiosk-Id header (since 1.4; never
// a member of hello).
type ClientView struct {
	dpwire.ClientInfo
	KioskID string `json:"kiosk_id,omitempty"`
}

// VideoStats accounts for the kiosk's video as received (over all the
// session's connections).
type VideoStats struct {
	Packets   int64  `json:"packets"`
	Frames    int64  `json:"frames"`    // complete VP8 frames assembled from RTP
	Keyframes int64  `json:"keyframes"` // of which keyframes
	Dropped   int64  `json:"dropped"`   // frames lost to missing packets or bad payloads
	Width     int    `json:"width"`     // from the latest keyframe header
	Height    int    `json:"height"`
	Codec     string `json:"codec,omitempty"`
	// MaxGapMS is the longest time between two complete frames on one
	// connection (a frozen picture), in milliseconds.
	MaxGapMS int64 `json:"max_gap_ms"`
}

// AudioStats accounts for the kiosk's audio as received.
type AudioStats struct {
	Packets      int64  `json:"packets"`
	Lost         int64  `json:"lost"`          // packets missing (sequence gaps)
	FECRecovered int64  `json:"fec_recovered"` // of those, decoded from the next packet's in-band FEC (the rest concealed)
	DecodeErrors int64  `json:"decode_errors"` // packets libopus refused
	Codec        string `json:"codec,omitempty"`
	// Over the analysis window (the last second by default), updated
	// every half window: the dominant frequency (0 until measured), the
	// level within ±10 % of the server's own voice frequency (echo_dbfs:
	// how much of the DP's voice comes back from the kiosk's microphone,
	// as the level of the one sine carrying that band's energy) and the
	// overall level, in dBFS (full-scale sine = 0, floor -120).
	DominantHz float64 `json:"dominant_hz"`
	EchoDBFS   float64 `json:"echo_dbfs"`
	LevelDBFS  float64 `json:"level_dbfs"`
	WindowMS   int     `json:"window_ms"` // how much audio the figures are over; 0: not measured yet
}

// session is the server's record of one session; guarded by Server.mu.
type session struct {
	id       string
	created  time.Time
	client   dpwire.ClientInfo
	state    string
	resumes  int
	attempts int
	connects int

	everConnected bool // once Connected, the session is resumable
	lastClose     string
	sentClose     string
	conversation  string // the DP's conversation state (SetConversationState), "" if never set
	endReason     string

	conn   *conn // the control connection attached, if any
	expiry *time.Timer

	video VideoStats
	audio AudioStats
}

func newSession(id string, client dpwire.ClientInfo) *session {
	return &session{
		id: id, created: time.Now(), client: client, state: StateSearching, attempts: 1,
		audio: NewAudioStats(),
	}
}

func (sess *session) info() SessionInfo {
	return SessionInfo{
		ID: sess.id, State: sess.state,
		Connected:       sess.state == StateConnected,
		Resumable:       sess.everConnected && sess.state != StateEnded,
		Resumes:         sess.resumes,
		Attempts:        sess.attempts,
		Connects:        sess.connects,
		Video:           sess.video,
		Audio:           sess.audio,
		LastCloseReason: sess.lastClose,
		SentCloseReason: sess.sentClose,
		EndReason:       sess.endReason,
		Conversation:    sess.conversation,
		Client:          ClientView{ClientInfo: sess.client, KioskID: sess.client.KioskID},
		Created:         sess.created,
	}
}

func (sess *session) stopExpiry() {
	if sess.expiry != nil {
		sess.expiry.Stop()
		sess.expiry = nil
	}
}

// resumable says whether a hello may resume the session now.
func (sess *session) resumable() bool {
	return sess.everConnected && sess.state != StateEnded
}
