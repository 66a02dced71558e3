package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/llm"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func home(tb testing.TB) *intent.Index {
	tb.Helper()
	return intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.reading", Name: "Reading Lamp", Domain: "light", AreaId: "lounge", State: "off"},
		{EntityId: "lock.porch", Name: "Porch Door", Domain: "lock", AreaId: "porch", State: "locked"},
	}, []*homeplanev1.Area{{Id: "lounge", Name: "Lounge"}, {Id: "porch", Name: "Porch"}},
		[]*homeplanev1.Floor{{Id: "down", Name: "Downstairs"}})
}

// fakeModel speaks the Ollama chat API or OpenAI chat completions, answers
// content, and records what it was asked.
type fakeModel struct {
	backend llm.Backend
	content string
	status  int
	delay   time.Duration
	raw     string // a whole answer body instead of a well-formed one

	mu   *sync.Mutex
	reqs *[]map[string]any
}

func (f *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := "/api/chat"
	if f.backend == llm.OpenAI {
		want = "/v1/chat/completions"
	}
	if r.Method != http.MethodPost || r.URL.Path != want {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var req map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	*f.reqs = append(*f.reqs, req)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.status != 0 {
		http.Error(w, "model exploded", f.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if f.raw != "" {
		_, _ = io.WriteString(w, f.raw)
		return
	}
	var out any
	if f.backend == llm.Ollama {
		out = map[string]any{"model": "m", "message": map[string]any{"role": "assistant", "content": f.content},
			"done": true, "prompt_eval_count": 120, "eval_count": 30}
	} else {
		out = map[string]any{"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": f.content}}},
			"usage": map[string]any{"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		model      fakeModel
		area       string
		wantIntent intent.Name
		wantSlots  map[string]any
		wantErr    error
	}{
		{name: "entity", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassTurnOn", "entity_ids": []string{"light.reading"}})},
			wantIntent: "HassTurnOn", wantSlots: map[string]any{"name": "Reading Lamp"}},
		{name: "area and domain", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassLightSet", "area": "lounge", "domain": "light", "brightness": 40})},
			wantIntent: "HassLightSet", wantSlots: map[string]any{"area": "Lounge", "domain": "light", "brightness": 40}},
		{name: "here", area: "Porch", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassTurnOff", "domain": "light"})},
			wantIntent: "HassTurnOff", wantSlots: map[string]any{"area": "Porch", "domain": "light"}},
		{name: "timer", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassStartTimer", "minutes": 5, "timer_name": "tea"})},
			wantIntent: "HassStartTimer", wantSlots: map[string]any{"minutes": 5, "name": "tea"}},
		{name: "none", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "none"})}, wantErr: intent.ErrNoIntent},
		{name: "invented entity", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassTurnOn", "entity_ids": []string{"light.disco_ball"}})},
			wantErr: llm.ErrInvalidOutput},
		{name: "invented area", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassTurnOn", "area": "Ballroom", "domain": "light"})},
			wantErr: llm.ErrInvalidOutput},
		{name: "unknown intent", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassLaunchRocket"})}, wantErr: llm.ErrInvalidOutput},
		{name: "malformed json", model: fakeModel{content: `{"intent": "HassTurnOn", `}, wantErr: llm.ErrInvalidOutput},
		{name: "prose", model: fakeModel{content: `Sure! I turned on the lamp.`}, wantErr: llm.ErrInvalidOutput},
		{name: "extra field", model: fakeModel{content: `{"intent": "HassTurnOn", "entity_ids": [], "domain": "light", "rm_rf": true}`}, wantErr: llm.ErrInvalidOutput},
		{name: "out of range", model: fakeModel{content: llm.AnswerJSON(map[string]any{"intent": "HassLightSet", "domain": "light", "area": "Lounge", "brightness": 900})}, wantErr: llm.ErrInvalidOutput},
		{name: "server error", model: fakeModel{status: http.StatusInternalServerError}, wantErr: llm.ErrBackend},
		{name: "garbage body", model: fakeModel{raw: `<html>`}, wantErr: llm.ErrBackend},
		{name: "timeout", model: fakeModel{delay: 5 * time.Second}, wantErr: llm.ErrBackend},
	}
	for _, backend := range []llm.Backend{llm.Ollama, llm.OpenAI} {
		for _, tt := range tests {
			t.Run(string(backend)+"/"+tt.name, func(t *testing.T) {
				fm := tt.model
				fm.backend = backend
				fm.mu, fm.reqs = &sync.Mutex{}, &[]map[string]any{}
				srv := httptest.NewServer(&fm)
				defer srv.Close()
				base := srv.URL
				if backend == llm.OpenAI {
					base += "/v1"
				}
				c, err := llm.New(backend, base, "test-model", llm.Options{Timeout: 200 * time.Millisecond, APIKey: "k"})
				if err != nil {
					t.Fatal(err)
				}
				tokens := &intent.TokenCount{}
				ctx := intent.WithTokenCount(context.Background(), tokens)
				got, err := c.Parse(ctx, "turn on the reading lamp", home(t), intent.Context{Area: tt.area})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == nil {
					if got.Name != tt.wantIntent || len(got.Slots) != len(tt.wantSlots) {
						t.Fatalf("got %s %v, want %s %v", got.Name, got.Slots, tt.wantIntent, tt.wantSlots)
					}
					for k, v := range tt.wantSlots {
						if got.Slots[k] != v {
							t.Errorf("slot %s = %v (%T), want %v", k, got.Slots[k], got.Slots[k], v)
						}
					}
				}
				if tt.model.status == 0 && tt.model.raw == "" && tt.model.delay == 0 && tokens.Total() != 150 {
					t.Errorf("tokens %d, want 150", tokens.Total())
				}
				fm.mu.Lock()
				defer fm.mu.Unlock()
				if len(*fm.reqs) != 1 {
					t.Fatalf("%d requests", len(*fm.reqs))
				}
				checkRequest(t, backend, (*fm.reqs)[0])
			})
		}
	}
}

func checkRequest(t *testing.T, backend llm.Backend, req map[string]any) {
	t.Helper()
	if req["model"] != "test-model" {
		t.Errorf("model %v", req["model"])
	}
	msgs, _ := req["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("messages %v", msgs)
	}
	system, _ := msgs[0].(map[string]any)["content"].(string)
	for _, want := range []string{"light.reading | Reading Lamp | Lounge", "lock.porch", "Downstairs", "HassTurnOn"} {
		if !strings.Contains(system, want) {
			t.Errorf("prompt lacks %q", want)
		}
	}
	switch backend {
	case llm.Ollama:
		if req["stream"] != false || req["format"] == nil {
			t.Errorf("ollama request without stream:false or format: %v", req)
		}
	case llm.OpenAI:
		rf, _ := req["response_format"].(map[string]any)
		js, _ := rf["json_schema"].(map[string]any)
		if rf["type"] != "json_schema" || js["strict"] != true || js["schema"] == nil {
			t.Errorf("openai response_format %v", rf)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name, backend, url, model string
	}{
		{"backend", "telepathy", "http://x", "m"},
		{"url", "ollama", "", "m"},
		{"model", "openai", "http://x", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := llm.New(llm.Backend(tt.backend), tt.url, tt.model, llm.Options{}); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestParseHereWithoutRoom: a model told nothing of the device's room
// answers "the lights in here" with no place; the intent says so, for the
// engine to act on nothing rather than on every light of the home.
func TestParseHereWithoutRoom(t *testing.T) {
	fm := fakeModel{backend: llm.Ollama, content: llm.AnswerJSON(map[string]any{"intent": "HassTurnOn", "domain": "light"}),
		mu: &sync.Mutex{}, reqs: &[]map[string]any{}}
	srv := httptest.NewServer(&fm)
	defer srv.Close()
	c, err := llm.New(llm.Ollama, srv.URL, "test-model", llm.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		text, area string
		wantHere   bool
		wantArea   any
	}{
		{"turn on the lights in here", "", true, nil},
		{"turn on the lights in this room", "", true, nil},
		{"turn on the lights in here", "Lounge", false, "Lounge"},
		{"turn on the lights", "", false, nil},
	} {
		got, err := c.Parse(context.Background(), tt.text, home(t), intent.Context{Area: tt.area})
		if err != nil {
			t.Fatalf("%q: %v", tt.text, err)
		}
		if got.Here != tt.wantHere || got.Slots["area"] != tt.wantArea {
			t.Errorf("%q in %q: Here %v, area %v; want %v, %v", tt.text, tt.area, got.Here, got.Slots["area"], tt.wantHere, tt.wantArea)
		}
	}
}
