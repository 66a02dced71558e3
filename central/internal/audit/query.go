package audit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
	"time"
)

// Cursor marks a position in time-descending order for keyset pagination.
type Cursor struct {
	Time time.Time
	ID   int64
}

// Filter selects records, newest first. Empty fields do not filter.
type Filter struct {
	HomeID    string
	UserID    string
	DeviceID  string
	RequestID string
	Kind      string
	Intent    string
	Outcome   string
	// Text matches a substring of the text, case-insensitively.
	Text  string
	Since time.Time // inclusive
	Until time.Time // exclusive
	// Before continues a listing after the last record of the previous page.
	Before Cursor
	Limit  int // default 100, at most 1000
}

// ErrInvalidPageToken is returned for a page token that is malformed or was
// issued for different filters.
var ErrInvalidPageToken = errors.New("invalid page token")

type pageToken struct {
	T int64  `json:"t"`
	I int64  `json:"i"`
	F uint64 `json:"f"`
}

// fingerprint identifies the filters a token belongs to (AIP-158: the other
// request fields must not change between pages).
func (f Filter) fingerprint() uint64 {
	h := fnv.New64a()
	for _, s := range []string{f.HomeID, f.UserID, f.DeviceID, f.RequestID, f.Kind, f.Intent, f.Outcome, f.Text,
		f.Since.UTC().Format(time.RFC3339Nano), f.Until.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// PageToken returns the opaque token that continues f after c.
func (f Filter) PageToken(c Cursor) string {
	b, _ := json.Marshal(pageToken{T: c.Time.UnixMicro(), I: c.ID, F: f.fingerprint()})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParsePageToken reads a token made by PageToken for the same filters.
func (f Filter) ParsePageToken(tok string) (Cursor, error) {
	if len(tok) > 256 {
		return Cursor{}, ErrInvalidPageToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return Cursor{}, ErrInvalidPageToken
	}
	var p pageToken
	if err := json.Unmarshal(b, &p); err != nil || p.I <= 0 || p.F != f.fingerprint() {
		return Cursor{}, ErrInvalidPageToken
	}
	return Cursor{Time: time.UnixMicro(p.T).UTC(), ID: p.I}, nil
}
