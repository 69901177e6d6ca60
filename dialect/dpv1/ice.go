package dpv1

import (
	"fmt"
	"slices"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dpwire"
)

// iceServers is what a call's PeerConnection uses: the configured servers
// (server.ice_servers) first, then those the server handed in
// ice_servers (docs/PROTOCOL.md section 4.11). Both are used: ICE gathers
// candidates from every server and picks the best pair, so the order only
// says which is tried first; a server cannot remove a configured one.
func iceServers(configured []webrtc.ICEServer, fromServer []dpwire.ICEServer) []webrtc.ICEServer {
	out := slices.Clone(configured)
	for _, s := range fromServer {
		out = append(out, webrtc.ICEServer{
			URLs: slices.Clone(s.URLs), Username: s.Username, Credential: s.Credential,
			CredentialType: webrtc.ICECredentialTypePassword,
		})
	}
	return out
}

// selectedPair describes the PeerConnection's selected ICE candidate pair
// for the log (docs/BEHAVIOUR.md section 9): "LOCAL -> REMOTE", each
// side its candidate type (host, srflx, prflx, relay) and transport, and
// for a local relay candidate the transport to the TURN server (udp, tcp,
// tls, dtls) instead: "relay/tls -> host/udp" is a call relayed by a TURN
// server reached over TLS. "" if there is no pair (yet).
func selectedPair(pc *webrtc.PeerConnection) string {
	if pc == nil {
		return ""
	}
	var pair *webrtc.ICECandidatePair
	for _, s := range pc.GetSenders() {
		if t := s.Transport(); t != nil && t.ICETransport() != nil {
			if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
				pair = p
				break
			}
		}
	}
	if pair == nil { // a call that sends nothing: its receivers share the transport
		for _, r := range pc.GetReceivers() {
			if t := r.Transport(); t != nil && t.ICETransport() != nil {
				if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
					pair = p
					break
				}
			}
		}
	}
	if pair == nil || pair.Local == nil || pair.Remote == nil {
		return ""
	}
	local := fmt.Sprintf("%s/%s", pair.Local.Typ, pair.Local.Protocol)
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		if rp := relayProtocol(pc, pair.Local); rp != "" {
			local = "relay/" + rp
		}
	}
	return fmt.Sprintf("%s -> %s/%s", local, pair.Remote.Typ, pair.Remote.Protocol)
}

// relayProtocol is the transport between the kiosk and the TURN server of
// a local relay candidate, which only the stats report.
func relayProtocol(pc *webrtc.PeerConnection, local *webrtc.ICECandidate) string {
	for _, st := range pc.GetStats() {
		cs, ok := st.(webrtc.ICECandidateStats)
		if ok && cs.Type == webrtc.StatsTypeLocalCandidate && cs.CandidateType == webrtc.ICECandidateTypeRelay &&
			cs.IP == local.Address && cs.Port == int32(local.Port) {
			return cs.RelayProtocol
		}
	}
	return ""
}
