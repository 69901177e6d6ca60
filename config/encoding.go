package config

import (
	"bytes"
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

var errUTF16 = errors.New("the file starts like UTF-16 but is not valid UTF-16; save it as UTF-8")

// toUTF8 turns a file saved as UTF-16 (with its byte order mark, as
// Windows editors write it) into UTF-8. yaml.v3 would read UTF-16 itself,
// but then lines are counted on text that is not the bytes, and the
// syntax-error search (which cuts the file at line ends) would cut
// characters in half. Anything else is returned as it is.
func toUTF8(data []byte) ([]byte, error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return data, nil
	}
	data = data[2:]
	if len(data)%2 != 0 {
		return nil, errUTF16
	}
	out := make([]byte, 0, len(data)*3/2)
	for i := 0; i < len(data); i += 2 {
		r := rune(order.Uint16(data[i:]))
		if utf16.IsSurrogate(r) {
			if i+3 >= len(data) {
				return nil, errUTF16
			}
			r = utf16.DecodeRune(r, rune(order.Uint16(data[i+2:])))
			if r == utf8.RuneError {
				return nil, errUTF16 // an unpaired surrogate
			}
			i += 2
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}
