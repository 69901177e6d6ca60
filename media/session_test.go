package media_test

import (
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/session"
)

// media does not import session (the layering in internal/deptest): the
// session's interfaces are checked here, where a test may import both.
var (
	_ session.MediaSource = (*media.Source)(nil)
	_ session.MediaKinds  = (*media.Source)(nil)
	_ session.MediaSink   = (*media.Sink)(nil)
)
