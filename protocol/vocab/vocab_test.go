package vocab

import (
	"os"
	"strings"
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestCodesRoundTripThroughTheirText(t *testing.T) {
	for v := range homeplanev1.CommandError_name {
		code := homeplanev1.CommandError(v)
		if code == homeplanev1.CommandError_COMMAND_ERROR_UNSPECIFIED {
			continue
		}
		res := Fail(code, "x")
		old := &homeplanev1.Result{ErrorCode: res.GetErrorCode(), Error: "x"} // as an older agent sends it
		if CodeOf(res) != code || CodeOf(old) != code {
			t.Errorf("%v: read back %v from the enum and %v from %q", code, CodeOf(res), CodeOf(old), res.GetErrorCode())
		}
	}
}

func TestTheTextOlderEndsSpeak(t *testing.T) {
	// These strings are on the wire already; they must not change.
	for text, code := range map[string]homeplanev1.CommandError{
		"expired":        homeplanev1.CommandError_COMMAND_ERROR_EXPIRED,
		"invalid":        homeplanev1.CommandError_COMMAND_ERROR_INVALID,
		"home_assistant": homeplanev1.CommandError_COMMAND_ERROR_HOME_ASSISTANT,
		"unavailable":    homeplanev1.CommandError_COMMAND_ERROR_UNAVAILABLE,
		"instance":       homeplanev1.CommandError_COMMAND_ERROR_INSTANCE,
	} {
		if got := CodeName(code); got != text {
			t.Errorf("CodeName(%v) = %q, want %q", code, got, text)
		}
	}
	for text, kind := range map[string]homeplanev1.InstanceEventKind{
		"pull_progress":  homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_PULL_PROGRESS,
		"crash_loop":     homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_CRASH_LOOP,
		"outbox_dropped": homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_OUTBOX_DROPPED,
		"rolled_back":    homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_ROLLED_BACK,
		"ha_auth_failed": homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HA_AUTH_FAILED,
	} {
		if got := KindName(kind); got != text {
			t.Errorf("KindName(%v) = %q, want %q", kind, got, text)
		}
		if got := KindOf(&homeplanev1.InstanceEvent{Kind: text}); got != kind {
			t.Errorf("KindOf(kind %q) = %v, want %v", text, got, kind)
		}
		if ev := Event(kind); KindOf(ev) != kind || ev.GetKind() != text {
			t.Errorf("Event(%v) = %v", kind, ev)
		}
	}
}

func TestUnknownAndMissing(t *testing.T) {
	cases := []struct {
		name string
		res  *homeplanev1.Result
		want homeplanev1.CommandError
	}{
		{"ok", &homeplanev1.Result{Ok: true}, homeplanev1.CommandError_COMMAND_ERROR_UNSPECIFIED},
		{"failed without a code", &homeplanev1.Result{}, homeplanev1.CommandError_COMMAND_ERROR_INTERNAL},
		{"unknown text", &homeplanev1.Result{ErrorCode: "gremlins"}, homeplanev1.CommandError_COMMAND_ERROR_INTERNAL},
		{"text naming unspecified", &homeplanev1.Result{ErrorCode: "unspecified"}, homeplanev1.CommandError_COMMAND_ERROR_INTERNAL},
		{"a newer agent's code", &homeplanev1.Result{Code: 999, ErrorCode: "later"}, homeplanev1.CommandError_COMMAND_ERROR_INTERNAL},
		{"the enum wins over the text", &homeplanev1.Result{Code: homeplanev1.CommandError_COMMAND_ERROR_BUSY, ErrorCode: "instance"}, homeplanev1.CommandError_COMMAND_ERROR_BUSY},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CodeOf(c.res); got != c.want {
				t.Fatalf("CodeOf = %v, want %v", got, c.want)
			}
		})
	}
	if got := KindOf(&homeplanev1.InstanceEvent{Type: 999, Kind: "healthy"}); got != homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UNSPECIFIED {
		t.Fatalf("an unknown type read as %v", got)
	}
	if got := KindOf(&homeplanev1.InstanceEvent{Kind: "gremlins"}); got != homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UNSPECIFIED {
		t.Fatalf("unknown text read as %v", got)
	}
}

// TestProtocolDocListsEveryValue keeps docs/protocol.md in step with the
// enums: every code and kind is documented by its text.
func TestProtocolDocListsEveryValue(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatalf("read protocol doc: %v", err)
	}
	doc := string(b)
	for v := range homeplanev1.CommandError_name {
		if name := CodeName(homeplanev1.CommandError(v)); name != "" && !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("code %q is missing from docs/protocol.md", name)
		}
	}
	for v := range homeplanev1.InstanceEventKind_name {
		if name := KindName(homeplanev1.InstanceEventKind(v)); name != "" && !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("event kind %q is missing from docs/protocol.md", name)
		}
	}
}
