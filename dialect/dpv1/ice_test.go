package dpv1

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dpwire"
)

// The configured servers come first, the server's after them; neither
// list is changed.
func TestICEServersPrecedence(t *testing.T) {
	configured := []webrtc.ICEServer{{URLs: []string{"turn:a:3478?transport=tcp"}, Username: "u", Credential: "c"}}
	handed := []dpwire.ICEServer{{URLs: []string{"turns:b:443?transport=tcp"}, Username: "1:dp-1", Credential: "x"}}
	got := iceServers(configured, handed)
	if len(got) != 2 || got[0].URLs[0] != "turn:a:3478?transport=tcp" || got[1].URLs[0] != "turns:b:443?transport=tcp" ||
		got[1].Username != "1:dp-1" || got[1].Credential != "x" || got[1].CredentialType != webrtc.ICECredentialTypePassword {
		t.Fatalf("got %+v", got)
	}
	got[1].URLs[0] = "changed"
	if handed[0].URLs[0] != "turns:b:443?transport=tcp" || len(configured) != 1 {
		t.Fatal("iceServers shares or changes its inputs")
	}
	if got := iceServers(nil, nil); len(got) != 0 {
		t.Fatalf("no servers: got %+v", got)
	}
}
