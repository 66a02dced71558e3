// Package audit records what central did for each request: who asked what of
// which home, how it was understood, what was executed, what Home Assistant
// answered, and how long every stage took.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one audited request.
type Record struct {
	// ID is assigned by the store; Write ignores it.
	ID        int64
	RequestID string
	Kind      string // "intent"
	UserID    string
	HomeID    string
	DeviceID  string
	Text      string
	Intent    string
	Slots     map[string]any
	Parser    string
	Executed  any // the service calls sent to the home
	Answer    any // what Home Assistant answered
	Outcome   string
	Error     string
	Time      time.Time
	ParseUS   int64
	ResolveUS int64
	ExecuteUS int64
	TotalUS   int64
	LLMTokens int
}

// Cursor marks a position in time-descending order for keyset pagination.
type Cursor struct {
	Time time.Time
	ID   int64
}

// Filter selects records, newest first. Empty fields do not filter.
type Filter struct {
	HomeID    string
	UserID    string
	RequestID string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	// Before continues a listing after the last record of the previous page.
	Before Cursor
	Limit  int // default 100, at most 1000
}

// Store persists records.
type Store interface {
	// InsertRecords commits all records or none.
	InsertRecords(ctx context.Context, rs []Record) error
}

// Options tunes a Writer. Zero fields take the defaults shown.
type Options struct {
	MaxTextLen   int // 4096 bytes for the text and the error; longer ones are cut
	MaxJSONBytes int // 64 KiB per slots, executed or answer value
	Now          func() time.Time
	Logger       *slog.Logger
}

// Writer writes audit records.
type Writer struct {
	store Store
	opts  Options
}

// NewWriter returns a Writer on store.
func NewWriter(store Store, opts Options) *Writer {
	if opts.MaxTextLen <= 0 {
		opts.MaxTextLen = 4096
	}
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = 64 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{store: store, opts: opts}
}

// Write returns once r is committed. Oversized fields are cut to the limits
// rather than refused: the record of what happened matters more than its tail.
func (w *Writer) Write(ctx context.Context, r Record) error {
	if r.RequestID == "" || r.Kind == "" {
		return fmt.Errorf("audit: record needs a request id and a kind")
	}
	r.ID = 0
	if r.Time.IsZero() {
		r.Time = w.opts.Now()
	}
	const maxShort = 255
	for _, f := range []*string{&r.RequestID, &r.Kind, &r.UserID, &r.HomeID, &r.DeviceID, &r.Intent, &r.Parser, &r.Outcome} {
		*f = clip(*f, maxShort)
	}
	r.Text = clip(r.Text, w.opts.MaxTextLen)
	r.Error = clip(r.Error, w.opts.MaxTextLen)

	slots, err := w.bound(r.Slots)
	if err != nil {
		return fmt.Errorf("audit: slots: %w", err)
	}
	if m, ok := slots.(map[string]any); ok || slots == nil {
		r.Slots = m
	}
	if r.Executed, err = w.bound(r.Executed); err != nil {
		return fmt.Errorf("audit: executed: %w", err)
	}
	if r.Answer, err = w.bound(r.Answer); err != nil {
		return fmt.Errorf("audit: answer: %w", err)
	}
	if err := w.store.InsertRecords(ctx, []Record{r}); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	return nil
}

// bound encodes v once to check its size and replaces an oversized value by
// a note saying how large it was. The encoded form is what gets stored.
func (w *Writer) bound(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if m, ok := v.(map[string]any); ok && m == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > w.opts.MaxJSONBytes {
		return map[string]any{"truncated": true, "bytes": len(b)}, nil
	}
	// PostgreSQL's jsonb cannot hold U+0000.
	clean := bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
	if _, ok := v.(map[string]any); ok {
		if bytes.Equal(clean, b) {
			return v, nil
		}
		var m map[string]any
		err := json.Unmarshal(clean, &m)
		return m, err
	}
	return json.RawMessage(clean), nil
}

// clip cuts s to at most n bytes on a character boundary and makes it valid UTF-8.
func clip(s string, n int) string {
	// PostgreSQL text cannot hold NUL either.
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
