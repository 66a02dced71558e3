package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

const homeID = "11111111-2222-4333-8444-555555555555"

func TestWriteReadBack(t *testing.T) {
	store := postgres.NewAuditStore(pgtest.New(t))
	w := audit.NewWriter(store, audit.Options{})
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

	rec := audit.Record{
		RequestID: "req-1", Kind: "intent", UserID: "u1", HomeID: homeID, DeviceID: "d1",
		Text: "turn off the kitchen lights", Intent: "HassTurnOff",
		Slots:  map[string]any{"area": "kitchen", "domain": "light"},
		Parser: "rules",
		Executed: []map[string]any{{"domain": "light", "service": "turn_off",
			"target": map[string]any{"entity_id": []string{"light.kitchen"}}}},
		Answer:  map[string]any{"ok": true},
		Outcome: "ok", Time: at, ParseUS: 120, ResolveUS: 30, ExecuteUS: 45000, TotalUS: 45200, LLMTokens: 7,
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := store.Records(ctx, audit.Filter{RequestID: "req-1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Records = %+v, %v", got, err)
	}
	r := got[0]
	if r.ID == 0 || r.Kind != "intent" || r.UserID != "u1" || r.HomeID != homeID || r.DeviceID != "d1" ||
		r.Text != rec.Text || r.Intent != "HassTurnOff" || r.Parser != "rules" || r.Outcome != "ok" ||
		!r.Time.Equal(at) || r.ParseUS != 120 || r.ResolveUS != 30 || r.ExecuteUS != 45000 || r.TotalUS != 45200 || r.LLMTokens != 7 {
		t.Fatalf("read back %+v", r)
	}
	if r.Slots["area"] != "kitchen" || r.Slots["domain"] != "light" {
		t.Fatalf("slots = %v", r.Slots)
	}
	calls, ok := r.Executed.([]any)
	if !ok || len(calls) != 1 || calls[0].(map[string]any)["service"] != "turn_off" {
		t.Fatalf("executed = %#v", r.Executed)
	}
	if ans, ok := r.Answer.(map[string]any); !ok || ans["ok"] != true {
		t.Fatalf("answer = %#v", r.Answer)
	}
}

func TestWriteBoundsAndCleansFields(t *testing.T) {
	store := postgres.NewAuditStore(pgtest.New(t))
	w := audit.NewWriter(store, audit.Options{MaxTextLen: 10, MaxJSONBytes: 100})
	ctx := context.Background()
	err := w.Write(ctx, audit.Record{
		RequestID: "req-2", Kind: "intent", HomeID: homeID,
		Text:     "héllo wörld and more", // cut on a character boundary
		Error:    "bad\x00byte\xff",
		Slots:    map[string]any{"name": "a\x00b"},
		Executed: strings.Repeat("x", 1000),
		Outcome:  "no_match",
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := store.Records(ctx, audit.Filter{HomeID: homeID})
	if err != nil || len(got) != 1 {
		t.Fatalf("Records = %+v, %v", got, err)
	}
	r := got[0]
	if r.Text != "héllo wö" {
		t.Fatalf("text = %q, want it cut to 10 bytes", r.Text)
	}
	if strings.ContainsRune(r.Error, 0) || r.Error == "" {
		t.Fatalf("error = %q", r.Error)
	}
	if r.Slots["name"] != "a\uFFFDb" {
		t.Fatalf("slots = %q", r.Slots)
	}
	if ex, ok := r.Executed.(map[string]any); !ok || ex["truncated"] != true {
		t.Fatalf("executed = %#v, want a truncation note", r.Executed)
	}
	if r.Time.IsZero() {
		t.Fatal("time not filled in")
	}
	if err := w.Write(ctx, audit.Record{Kind: "intent"}); err == nil {
		t.Fatal("record without request id accepted")
	}
}

func TestRecordsFilterAndPaginate(t *testing.T) {
	store := postgres.NewAuditStore(pgtest.New(t))
	w := audit.NewWriter(store, audit.Options{})
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		h := homeID
		if i%2 == 1 {
			h = "other"
		}
		if err := w.Write(ctx, audit.Record{RequestID: "r" + string(rune('0'+i)), Kind: "intent", HomeID: h,
			Time: base.Add(time.Duration(i) * time.Minute), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	page1, err := store.Records(ctx, audit.Filter{HomeID: homeID, Limit: 2})
	if err != nil || len(page1) != 2 || page1[0].RequestID != "r4" || page1[1].RequestID != "r2" {
		t.Fatalf("page 1 = %+v, %v", page1, err)
	}
	last := page1[len(page1)-1]
	page2, err := store.Records(ctx, audit.Filter{HomeID: homeID, Limit: 2, Before: audit.Cursor{Time: last.Time, ID: last.ID}})
	if err != nil || len(page2) != 1 || page2[0].RequestID != "r0" {
		t.Fatalf("page 2 = %+v, %v", page2, err)
	}
	window, err := store.Records(ctx, audit.Filter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)})
	if err != nil || len(window) != 2 || window[0].RequestID != "r2" || window[1].RequestID != "r1" {
		t.Fatalf("time window = %+v, %v", window, err)
	}
}
