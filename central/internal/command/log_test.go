package command

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// echoAgent is a Transport whose agent answers every command at once.
type echoAgent struct {
	r    *Router
	home string
}

func (a *echoAgent) Publish(_ string, payload []byte, _ bool) error {
	cmd := new(homeplanev1.Command)
	if err := proto.Unmarshal(payload, cmd); err != nil {
		return err
	}
	go a.r.Deliver(a.home, &homeplanev1.Result{CommandId: cmd.Id, RequestId: cmd.RequestId, Ok: true})
	return nil
}

type online bool

func (o online) Online(string) bool { return bool(o) }

// TestExecuteLogsWithTheCommandsIdentifiers checks the lines the router
// writes, now that it builds their logger only for a line it writes: each
// names the request, the command and the home, and a command that succeeds
// writes nothing at the info level.
func TestExecuteLogsWithTheCommandsIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		level  slog.Level
		online bool
		want   []string // messages, in order
	}{
		{"succeeds at info", slog.LevelInfo, true, nil},
		{"succeeds at debug", slog.LevelDebug, true, []string{"command sent", "command succeeded"}},
		{"offline", slog.LevelInfo, false, []string{"command not sent: home offline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Execute writes every line in this goroutine.
			var out bytes.Buffer
			agent := &echoAgent{home: "home-1"}
			r, err := New(agent, online(tc.online), Options{
				Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tc.level})),
			})
			if err != nil {
				t.Fatal(err)
			}
			agent.r = r
			_, err = r.Execute(context.Background(), "home-1", &homeplanev1.Command{Id: "cmd-1", RequestId: "req-1"})
			if tc.online && err != nil || !tc.online && !errors.Is(err, ErrOffline) {
				t.Fatalf("Execute: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(tc.want) == 0 {
				if out.String() != "" {
					t.Fatalf("logged %q, want nothing", out.String())
				}
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %q, want %d lines", lines, len(tc.want))
			}
			for i, line := range lines {
				for _, s := range []string{`msg="` + tc.want[i] + `"`, "request_id=req-1", "command_id=cmd-1", "home_id=home-1"} {
					if !strings.Contains(line, s) {
						t.Errorf("line %q lacks %s", line, s)
					}
				}
			}
		})
	}
}
