package dpwire

// TypeICERestart is the ice_restart message (protocol 1.3): the client's
// ICE-restart offer on a connection that is Connected, after a network
// change or a loss of the media path (docs/PROTOCOL.md section 4.12). The
// server answers with an answer; both sides then trickle the candidates of
// the new ICE generation. It is a new message type, not a member of offer:
// a 1.2 server, which rejects unknown members, ignores an unknown type
// (section 2.2), and the client's restart deadline then falls back to a
// resume.
const TypeICERestart = "ice_restart"

// ICERestart carries an SDP offer with new ICE credentials (ufrag and
// pwd) for the PeerConnection of the connection (client to server).
type ICERestart struct {
	SDP string `json:"sdp"`
}

func (ICERestart) MessageType() string { return TypeICERestart }
