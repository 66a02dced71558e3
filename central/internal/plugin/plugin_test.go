package plugin_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/plugin"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// buildExample builds the example plugin binary for this test.
func buildExample(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "homeplane-parser-example")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/homeplane/homeplane/central/cmd/homeplane-parser-example")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	return bin
}

func home(tb testing.TB) *intent.Index {
	tb.Helper()
	return intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.reading", Name: "Reading Lamp", Domain: "light", AreaId: "lounge"},
	}, []*homeplanev1.Area{{Id: "lounge", Name: "Lounge"}}, nil)
}

// parseUntil polls Parse until it succeeds or the deadline passes.
func parseUntil(tb testing.TB, p *plugin.Parser, reg *intent.Index, text string) intent.Intent {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, err := p.Parse(context.Background(), text, reg, intent.Context{})
		if err == nil {
			return in
		}
		if !errors.Is(err, plugin.ErrUnavailable) || time.Now().After(deadline) {
			tb.Fatalf("Parse(%q): %v", text, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func TestPluginParsesCrashesAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	reg := home(t)
	p := plugin.New(buildExample(t), plugin.Options{RestartDelay: 50 * time.Millisecond})
	t.Cleanup(p.Close)

	in := parseUntil(t, p, reg, "reading lamp on")
	if in.Name != "HassTurnOn" || in.Slot("name") != "Reading Lamp" {
		t.Fatalf("parsed %v", in)
	}
	if _, err := p.Parse(context.Background(), "sing me a song", reg, intent.Context{}); !errors.Is(err, intent.ErrNoIntent) {
		t.Errorf("nonsense: %v, want ErrNoIntent", err)
	}
	first := p.Pid()
	if first == 0 {
		t.Fatal("no plugin process")
	}

	// The plugin dies during a call: a clear error, central unharmed.
	_, err := p.Parse(context.Background(), "crash the plugin", reg, intent.Context{})
	if !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("crash: %v, want ErrUnavailable", err)
	}
	in = parseUntil(t, p, reg, "reading lamp off")
	if in.Name != "HassTurnOff" {
		t.Fatalf("after restart: %v", in)
	}
	second := p.Pid()
	if second == 0 || second == first {
		t.Fatalf("plugin not restarted: pid %d then %d", first, second)
	}

	// Killed from outside between calls.
	proc, err := os.FindProcess(second)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	in = parseUntil(t, p, reg, "reading lamp on")
	if in.Name != "HassTurnOn" || p.Pid() == second {
		t.Fatalf("after kill: %v, pid %d", in, p.Pid())
	}
}

func TestPluginMissingBinary(t *testing.T) {
	p := plugin.New(filepath.Join(t.TempDir(), "no-such-plugin"), plugin.Options{})
	defer p.Close()
	if _, err := p.Parse(context.Background(), "reading lamp on", home(t), intent.Context{}); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("missing binary: %v, want ErrUnavailable", err)
	}
}
