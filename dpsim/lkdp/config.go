package lkdp

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/kioskd/kioskd/dpsim"
)

// Config is a LiveKit Digital Person. Every zero value has a default
// (withDefaults).
type Config struct {
	// URL is the LiveKit server, ws:// or wss:// (its RoomService is the
	// same host over http or https).
	URL string
	// APIKey and APISecret sign the DP's own tokens and the RoomService
	// calls (livekit-server --dev: devkey and secret). The secret is
	// never logged.
	APIKey, APISecret string
	// Identity is the DP participant's identity (default "dpsim-dp").
	Identity string
	// AgentName is the LiveKit agent the DP is: "" joins every kiosk's
	// room (LiveKit's automatic dispatch of an agent without a name);
	// a name joins only the rooms whose token request dispatched it
	// (room_config.agents, explicit dispatch), as a named LiveKit agent.
	AgentName string
	// Avatar splits the DP as LiveKit Agents with an avatar plugin does:
	// the agent (Identity) joins, holds lk.agent.state and publishes
	// nothing; an avatar participant (Identity + "-avatar", an AGENT whose
	// lk.publish_on_behalf names the agent) publishes the face and voice.
	Avatar bool
	// VoiceHz is the DP's voice (default 880); the echo measured is its band.
	VoiceHz float64
	// The DP's face: size (default 320x240), frame rate (15), bitrate (150 kbit/s).
	VideoWidth, VideoHeight, VideoFPS, VideoBitrate int
	// AnalysisWindow is how much of the kiosk's audio is analysed (1 s).
	AnalysisWindow time.Duration
	// Poll is how often the rooms are listed (default 200 ms).
	Poll time.Duration
	// HistoryLimit caps the ended rooms kept for the admin API (1000).
	HistoryLimit int
	Scenario     Scenario
}

// Scenario is what the DP does to a kiosk's room. The "after" durations
// count from the moment the DP first receives the kiosk's audio (the
// kiosk has published: it is Connected or about to be); 0 is never.
type Scenario struct {
	// NeverJoin: watch the rooms, join none (the kiosk waits in vain).
	NeverJoin bool
	// JoinDelay: join a new room this long after it was first seen.
	JoinDelay time.Duration
	// LeaveAfter: the DP leaves the room (the conversation ended).
	LeaveAfter time.Duration
	// RemoveKioskAfter: the RoomService removes the kiosk's participant.
	RemoveKioskAfter time.Duration
	// DeleteRoomAfter: the RoomService deletes the room.
	DeleteRoomAfter time.Duration
	// ConverseEvery: the DP's lk.agent.state goes round thinking,
	// speaking, listening, one step each period (0: it stays listening,
	// unless the admin API sets it).
	ConverseEvery time.Duration
}

// ErrConfig is the error of an invalid Config.
var ErrConfig = errors.New("lkdp: invalid configuration")

func (cfg Config) withDefaults() (Config, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return cfg, fmt.Errorf("%w: the LiveKit URL must be ws:// or wss://host[:port]", ErrConfig)
	}
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return cfg, fmt.Errorf("%w: the API key and secret are required", ErrConfig)
	}
	if cfg.Identity == "" {
		cfg.Identity = "dpsim-dp"
	}
	if cfg.VoiceHz == 0 {
		cfg.VoiceHz = 880
	}
	if cfg.VoiceHz < 20 || cfg.VoiceHz > 20000 {
		return cfg, fmt.Errorf("%w: voice %g Hz out of 20..20000", ErrConfig, cfg.VoiceHz)
	}
	if cfg.VideoWidth == 0 || cfg.VideoHeight == 0 {
		cfg.VideoWidth, cfg.VideoHeight = 320, 240
	}
	if cfg.VideoFPS == 0 {
		cfg.VideoFPS = 15
	}
	if cfg.VideoBitrate == 0 {
		cfg.VideoBitrate = 150_000
	}
	if cfg.AnalysisWindow == 0 {
		cfg.AnalysisWindow = time.Second
	}
	if cfg.AnalysisWindow < 100*time.Millisecond || cfg.AnalysisWindow > 10*time.Second {
		return cfg, fmt.Errorf("%w: analysis window %s out of 100ms..10s", ErrConfig, cfg.AnalysisWindow)
	}
	if cfg.Poll == 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Poll < 10*time.Millisecond {
		return cfg, fmt.Errorf("%w: poll interval %s under 10ms", ErrConfig, cfg.Poll)
	}
	if cfg.HistoryLimit == 0 {
		cfg.HistoryLimit = 1000
	}
	sc := cfg.Scenario
	if sc.JoinDelay < 0 || sc.LeaveAfter < 0 || sc.RemoveKioskAfter < 0 || sc.DeleteRoomAfter < 0 || sc.ConverseEvery < 0 {
		return cfg, fmt.Errorf("%w: negative scenario duration", ErrConfig)
	}
	if sc.ConverseEvery > 0 && sc.ConverseEvery < 100*time.Millisecond {
		return cfg, fmt.Errorf("%w: conversation period %s under 100ms", ErrConfig, sc.ConverseEvery)
	}
	if !validAgentName(cfg.AgentName) {
		return cfg, fmt.Errorf("%w: the agent name may hold only letters, digits, '.', '_' and '-' (at most 128)", ErrConfig)
	}
	return cfg, nil
}

// RegisterFlags binds the DP's settings and scenario to fs (cmd/dpsim's
// --livekit-* flags). The URL, key and secret file are cmd/dpsim's.
func (cfg *Config) RegisterFlags(fs *flag.FlagSet) {
	sc := &cfg.Scenario
	fs.StringVar(&cfg.Identity, "livekit-identity", cfg.Identity, "LiveKit mode: the DP participant's identity (default dpsim-dp)")
	fs.DurationVar(&cfg.Poll, "livekit-poll", cfg.Poll, "LiveKit mode: how often the rooms are listed (0: 200ms)")
	fs.StringVar(&cfg.AgentName, "livekit-agent-name", cfg.AgentName, "LiveKit mode: the agent name; then the DP joins only rooms whose token request dispatched it (room_config.agents); empty: every kiosk's room")
	fs.BoolVar(&cfg.Avatar, "livekit-avatar", cfg.Avatar, "LiveKit mode: join as an agent that publishes nothing plus an avatar participant (<identity>-avatar, lk.publish_on_behalf) that publishes the face and voice, as LiveKit Agents' avatar plugins do")
	fs.DurationVar(&sc.ConverseEvery, "livekit-converse-every", sc.ConverseEvery, "LiveKit mode: after the kiosk's audio arrives, step lk.agent.state through thinking, speaking, listening every D (0: stay listening)")
	fs.BoolVar(&sc.NeverJoin, "livekit-never-join", sc.NeverJoin, "LiveKit mode: join no room (the kiosk's step deadline runs out)")
	fs.DurationVar(&sc.JoinDelay, "livekit-join-delay", sc.JoinDelay, "LiveKit mode: join a new room this long after it appears")
	fs.DurationVar(&sc.LeaveAfter, "livekit-leave-after", sc.LeaveAfter, "LiveKit mode: leave the room this long after the kiosk's audio arrives (0: never)")
	fs.DurationVar(&sc.RemoveKioskAfter, "livekit-remove-kiosk-after", sc.RemoveKioskAfter, "LiveKit mode: remove the kiosk's participant this long after its audio arrives (0: never)")
	fs.DurationVar(&sc.DeleteRoomAfter, "livekit-delete-room-after", sc.DeleteRoomAfter, "LiveKit mode: delete the room this long after the kiosk's audio arrives (0: never)")
}

// FromDpsim takes the DP's media settings from dpsim's own flags
// (--voice-hz, --video-size, --video-fps, --video-bitrate,
// --analysis-window), so the two modes share them.
func (cfg *Config) FromDpsim(d dpsim.Config) {
	cfg.VoiceHz = d.VoiceHz
	cfg.VideoWidth, cfg.VideoHeight, cfg.VideoFPS, cfg.VideoBitrate = d.VideoWidth, d.VideoHeight, d.VideoFPS, d.VideoBitrate
	cfg.AnalysisWindow = d.AnalysisWindow
	if d.HistoryLimit != 0 {
		cfg.HistoryLimit = d.HistoryLimit
	}
}

// validAgentName: "" or a name of kioskd's server.livekit.agent_name
// (letters, digits, '.', '_', '-', at most 128).
func validAgentName(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
