package session

import "io"

var errEOF = io.EOF
