package dpsim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"
)

// TURNCredential mints a TURN credential valid until expires, as coturn's
// REST API (use-auth-secret, static-auth-secret=secret) checks it: the
// username is "EXPIRY:id" (EXPIRY in Unix seconds), the credential
// base64(HMAC-SHA1(secret, username)).
func TURNCredential(secret, id string, expires time.Time) (username, credential string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + id
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}
