package handlers

import (
	"encoding/base64"
	"encoding/json"
)

// Cursors tell where a page ended. They are opaque to callers: JSON made
// URL-safe, so they can change shape without breaking anyone who only
// hands them back.

func encodeCursor(v any) string {
	raw, _ := json.Marshal(v) // plain data: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor reads into v a cursor encodeCursor made; valid checks what
// was read.
func decodeCursor(s string, v any, valid func() bool) error {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil || len(s) > 512 || !valid() {
		return invalidField("cursor", "is not a cursor this service gave")
	}
	return nil
}
