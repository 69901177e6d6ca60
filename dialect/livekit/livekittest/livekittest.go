//go:build livekit

// Package livekittest runs a real livekit-server for tests and joins a
// Digital Person participant to its rooms: a synthetic face (VP8) and an
// 880 Hz voice (Opus), encoded with the encoders kioskd uses, that records
// what the kiosk sends it.
//
// The server binary is the one scripts/livekit-server.sh builds: the path
// in KIOSKD_LIVEKIT_SERVER, else the cache directory it builds into. A test
// without it fails, saying how to get it: CI builds it, and a skipped test
// proves nothing.
package livekittest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	protologger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8enc"
	"github.com/kioskd/kioskd/internal/lkserver"
)

// The dev server's key and secret (livekit-server --dev).
const (
	APIKey    = "devkey"
	APISecret = "secret"
	// Version is the livekit-server the tests run (lkserver's).
	Version = lkserver.Version
	// EnvServer names the variable that holds the server binary's path.
	EnvServer = lkserver.EnvServer
)

// BinaryPath is where the server binary is: $KIOSKD_LIVEKIT_SERVER, else
// scripts/livekit-server.sh's cache (lkserver.CacheDir).
func BinaryPath() string {
	if p := os.Getenv(EnvServer); p != "" {
		return p
	}
	return filepath.Join(lkserver.CacheDir(), "server")
}

// Server is a livekit-server on loopback (lkserver's, which starts it
// again on other ports when one was taken meanwhile).
type Server struct {
	*lkserver.Server
	Rooms *lksdk.RoomServiceClient
}

// Start runs livekit-server --dev on free loopback ports until the test
// ends. It fails the test when the binary is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, "")
}

// StartWith is Start with extra YAML appended to the server's config (top
// level keys other than port, rtc and logging), e.g. "room:\n  auto_create: false\n".
func StartWith(t testing.TB, extra string) *Server {
	t.Helper()
	bin := BinaryPath()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("livekit-server %s not found at %s (%v): run scripts/livekit-server.sh, or set %s to its path", Version, bin, err, EnvServer)
	}
	srv, err := lkserver.Start(context.Background(), bin, extra, filepath.Join(t.TempDir(), "livekit-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return &Server{Server: srv, Rooms: lksdk.NewRoomServiceClient(srv.HTTPURL, APIKey, APISecret)}
}

// Signal sends sig to the server process (SIGTERM: a first one drains, a
// second shuts down, sending SERVER_SHUTDOWN).
func (s *Server) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := s.Server.Signal(sig); err != nil {
		t.Fatalf("signal livekit-server: %v", err)
	}
}

// Restart kills the server (if it still runs) and starts a new one on the
// same signalling port, as a crashed server's supervisor would: its rooms,
// in memory in --dev, are gone.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Server.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Token is an access token to join room as identity; agent makes the
// participant an AGENT (a Digital Person).
func Token(t testing.TB, room, identity string, agent bool) string {
	t.Helper()
	jwt, err := Mint(room, identity, agent)
	if err != nil {
		t.Fatal(err)
	}
	return jwt
}

// Mint is Token for goroutines that cannot fail a test (a token
// endpoint's handler).
func Mint(room, identity string, agent bool) (string, error) {
	return mint(room, identity, agent, nil)
}

// mint is Mint with participant attributes set by the token (as LiveKit
// Agents' avatar plugins set lk.publish_on_behalf).
func mint(room, identity string, agent bool, attrs map[string]string) (string, error) {
	g := &auth.VideoGrant{RoomJoin: true, Room: room}
	if agent {
		g.SetCanUpdateOwnMetadata(true) // an agent publishes lk.agent.state (SetAgentState)
	}
	at := auth.NewAccessToken(APIKey, APISecret).SetVideoGrant(g).
		SetIdentity(identity).SetValidFor(time.Hour)
	if agent {
		at.SetKind(livekit.ParticipantInfo_AGENT)
	}
	if attrs != nil {
		at.SetAttributes(attrs)
	}
	return at.ToJWT()
}

// DeleteRoom closes room: everyone in it is disconnected with ROOM_DELETED.
func (s *Server) DeleteRoom(t testing.TB, room string) {
	t.Helper()
	if _, err := s.Rooms.DeleteRoom(context.Background(), &livekit.DeleteRoomRequest{Room: room}); err != nil {
		t.Fatalf("delete room %s: %v", room, err)
	}
}

// Participants lists the identities in room.
func (s *Server) Participants(t testing.TB, room string) []string {
	t.Helper()
	res, err := s.Rooms.ListParticipants(context.Background(), &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		return nil
	}
	var ids []string
	for _, p := range res.Participants {
		ids = append(ids, p.Identity)
	}
	return ids
}

// Received is what the Digital Person got from the kiosk.
type Received struct {
	AudioPackets uint64
	VideoFrames  uint64 // VP8 frames (RTP packets with the marker bit)
}

// DP is a Digital Person in a room.
type DP struct {
	Identity string
	toneHz   float64
	room     *lksdk.Room

	audio, video atomic.Uint64
	silent       atomic.Bool // sends no RTP (a crashed DP that has not left)
	h264         bool        // its face in H.264 (JoinDPWithH264Face)
	changed      chan struct{}
	mu           sync.Mutex

	stop  chan struct{}
	wg    sync.WaitGroup
	srcs  []mediadevices.Track
	once  sync.Once
	sinks sync.WaitGroup
}

// JoinDP joins room as an AGENT participant named identity, publishing a
// synthetic face (160x120 at 10 fps) and an 880 Hz voice, until Leave or
// the end of the test.
func (s *Server) JoinDP(t testing.TB, room, identity string) *DP {
	t.Helper()
	return s.Join(t, room, identity, true, 880)
}

// Join joins room as identity, an AGENT if agent, publishing the synthetic
// face and a voice of toneHz (a kiosk stand-in: agent false, 440 Hz).
func (s *Server) Join(t testing.TB, room, identity string, agent bool, toneHz float64) *DP {
	t.Helper()
	dp := s.join(t, room, identity, agent, toneHz, nil)
	dp.Publish(t)
	return dp
}

// JoinAvatar joins room as an avatar of LiveKit Agents' plugins (Tavus,
// Hedra, Simli, ...) does: an AGENT whose token sets lk.publish_on_behalf
// to the agent's identity, publishing the face and the 880 Hz voice in the
// agent's name (the agent itself, JoinDPUnpublished, publishes nothing and
// holds lk.agent.state).
func (s *Server) JoinAvatar(t testing.TB, room, identity, agent string) *DP {
	t.Helper()
	dp := s.join(t, room, identity, true, 880, map[string]string{"lk.publish_on_behalf": agent})
	dp.Publish(t)
	return dp
}

// Publish publishes the DP's face and voice (JoinDP does at once).
func (dp *DP) Publish(t testing.TB) {
	t.Helper()
	if err := dp.publish(); err != nil {
		dp.Leave()
		t.Fatalf("DP publish: %v", err)
	}
}

// Silence stops (true) or resumes (false) the DP's RTP without leaving
// the room: a DP whose process hangs or died with its participant still
// in the room. Tracks published meanwhile stay silent too.
func (dp *DP) Silence(on bool) { dp.silent.Store(on) }

// JoinDPUnpublished joins room as JoinDP does but publishes nothing until
// Publish: the kiosk stays at DownloadingAssets.
func (s *Server) JoinDPUnpublished(t testing.TB, room, identity string) *DP {
	t.Helper()
	return s.join(t, room, identity, true, 880, nil)
}

func (s *Server) join(t testing.TB, room, identity string, agent bool, toneHz float64, attrs map[string]string) *DP {
	t.Helper()
	dp := &DP{Identity: identity, stop: make(chan struct{}), changed: make(chan struct{}), toneHz: toneHz}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
		dp.sinks.Add(1)
		go func() {
			defer dp.sinks.Done()
			dp.count(tr)
		}()
	}
	token, err := mint(room, identity, agent, attrs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := lksdk.ConnectToRoomWithToken(s.URL, token, cb,
		lksdk.WithDisableRegionDiscovery(), lksdk.WithLogger(protologger.GetDiscardLogger()))
	if err != nil {
		t.Fatalf("DP join %s: %v", room, err)
	}
	dp.room = r
	t.Cleanup(dp.Leave)
	return dp
}

func (dp *DP) publish() error {
	vp8, err := vp8enc.NewParams()
	if err != nil {
		return err
	}
	vp8.OwnThread = true
	vp8.BitRate = 200_000
	op, err := opus.NewParams()
	if err != nil {
		return err
	}
	op.BitRate = 32000
	sel := mediadevices.NewCodecSelector(mediadevices.WithVideoEncoders(&vp8), mediadevices.WithAudioEncoders(&op))
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if kind == webrtc.RTPCodecTypeVideo && dp.h264 {
			if err := dp.publishH264Face(); err != nil {
				return err
			}
			continue
		}
		var src mediadevices.Track
		var capab webrtc.RTPCodecCapability
		var rate time.Duration
		var opts *lksdk.TrackPublicationOptions
		if kind == webrtc.RTPCodecTypeVideo {
			src = mediadevices.NewVideoTrack(synthetic.NewVideo(160, 120, 10), sel)
			capab, rate = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, 90000
			opts = &lksdk.TrackPublicationOptions{Name: "face", Source: livekit.TrackSource_CAMERA, VideoWidth: 160, VideoHeight: 120}
		} else {
			src = mediadevices.NewAudioTrack(synthetic.NewTone(dp.toneHz, 48000), sel)
			capab, rate = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 48000
			opts = &lksdk.TrackPublicationOptions{Name: "voice", Source: livekit.TrackSource_MICROPHONE}
		}
		dp.srcs = append(dp.srcs, src)
		key := &atomic.Bool{}
		lt, err := lksdk.NewLocalTrack(capab, lksdk.WithRTCPHandler(func(p rtcp.Packet) {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				key.Store(true)
			}
		}))
		if err != nil {
			return err
		}
		if _, err := dp.room.LocalParticipant.PublishTrack(lt, opts); err != nil {
			return err
		}
		mime := capab.MimeType
		dp.wg.Add(1)
		go func() {
			defer dp.wg.Done()
			dp.send(src, lt, mime, rate, key)
		}()
	}
	return nil
}

// JoinDPWithH264Face joins room as JoinDP does, its face published in
// H.264 (as some avatars publish it; kioskd receives VP8 only) and its
// voice in Opus. The face's access units are fixed bytes, not a picture:
// nobody decodes them, the server forwards them.
func (s *Server) JoinDPWithH264Face(t testing.TB, room, identity string) *DP {
	t.Helper()
	dp := s.join(t, room, identity, true, 880, nil)
	dp.h264 = true
	dp.Publish(t)
	return dp
}

// h264AccessUnit is an Annex B key frame's NAL unit headers with filler:
// SPS (type 7, baseline, level 3.1), PPS (type 8) and an IDR slice (type
// 5), which is what the server looks at.
var h264AccessUnit = []byte{
	0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x80,
	0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
	0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xfe, 0xf6, 0xf0, 0xfe, 0x05, 0x36, 0x56, 0x04, 0x50, 0x96, 0x7b, 0x3f, 0x53, 0xe1,
}

func (dp *DP) publishH264Face() error {
	lt, err := lksdk.NewLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"})
	if err != nil {
		return err
	}
	if _, err := dp.room.LocalParticipant.PublishTrack(lt, &lksdk.TrackPublicationOptions{
		Name: "face", Source: livekit.TrackSource_CAMERA, VideoWidth: 160, VideoHeight: 120}); err != nil {
		return err
	}
	dp.wg.Add(1)
	go func() {
		defer dp.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond) // 10 fps, paced as a camera is
		defer tick.Stop()
		for {
			select {
			case <-dp.stop:
				return
			case <-tick.C:
				_ = lt.WriteSample(pionmedia.Sample{Data: h264AccessUnit, Duration: 100 * time.Millisecond}, nil)
			}
		}
	}()
	return nil
}

func (dp *DP) send(src mediadevices.Track, lt *lksdk.LocalTrack, mime string, rate time.Duration, key *atomic.Bool) {
	rd, err := src.NewEncodedReader(mime)
	if err != nil {
		return
	}
	defer rd.Close()
	kc, _ := rd.Controller().(codec.KeyFrameController)
	for {
		if key.Swap(false) && kc != nil {
			_ = kc.ForceKeyFrame()
		}
		buf, release, err := rd.Read()
		if err != nil {
			return
		}
		if !dp.silent.Load() {
			_ = lt.WriteSample(pionmedia.Sample{Data: buf.Data, Duration: time.Duration(buf.Samples) * time.Second / rate}, nil)
		}
		release()
		select {
		case <-dp.stop:
			return
		default:
		}
	}
}

func (dp *DP) count(tr *webrtc.TrackRemote) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		switch {
		case video && pkt.Marker:
			dp.video.Add(1)
		case !video:
			dp.audio.Add(1)
		default:
			continue
		}
		dp.mu.Lock()
		close(dp.changed)
		dp.changed = make(chan struct{})
		dp.mu.Unlock()
	}
}

// Received is what the DP got from the kiosk so far.
func (dp *DP) Received() Received {
	return Received{AudioPackets: dp.audio.Load(), VideoFrames: dp.video.Load()}
}

// WaitReceived waits until cond holds of what the DP received, or ctx ends.
func (dp *DP) WaitReceived(ctx context.Context, cond func(Received) bool) (Received, bool) {
	for {
		dp.mu.Lock()
		ch := dp.changed
		dp.mu.Unlock()
		r := dp.Received()
		if cond(r) {
			return r, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r, false
		}
	}
}

// SetAgentState publishes state in the DP's lk.agent.state attribute, as a
// LiveKit agent does (idle, listening, thinking, speaking, ...); ""
// removes the attribute.
func (dp *DP) SetAgentState(state string) {
	dp.room.LocalParticipant.SetAttributes(map[string]string{"lk.agent.state": state})
}

// Leave leaves the room (a DP that ends the conversation) and stops its
// media. It is safe to call more than once.
func (dp *DP) Leave() {
	dp.once.Do(func() {
		close(dp.stop)
		dp.room.Disconnect()
		for _, s := range dp.srcs {
			_ = s.Close()
		}
		dp.wg.Wait()
		dp.sinks.Wait()
	})
}

// Env is the environment entry that points a child process (a kioskd
// under test) at the server binary.
func Env() string { return EnvServer + "=" + BinaryPath() }

// ParticipantSID is the SID of identity in room ("" if it is not there):
// a resume keeps it, a rejoin gets a new one.
func (s *Server) ParticipantSID(t testing.TB, room, identity string) string {
	t.Helper()
	res, err := s.Rooms.ListParticipants(context.Background(), &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		return ""
	}
	for _, p := range res.Participants {
		if p.Identity == identity {
			return p.Sid
		}
	}
	return ""
}

// TokenExpiring is a kiosk's (not an agent's) access token to join room
// as identity that the server accepts for about left more: its expiry is
// set a minute earlier, since the server grants expired tokens a minute's
// leeway. The server's refresh_token is then the only token that works
// after left.
func TokenExpiring(t testing.TB, room, identity string, left time.Duration) string {
	t.Helper()
	// By hand: auth.AccessToken takes no expiry in the past.
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss": APIKey, "sub": identity, "name": identity,
		"nbf": now.Add(-2 * time.Minute).Unix(), "exp": now.Add(left - time.Minute).Unix(),
		"video": map[string]any{"roomJoin": true, "room": room},
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(APISecret))
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}
