package rpc

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLogHandlerAddsRequestIDOnce(t *testing.T) {
	var b strings.Builder
	log := slog.New(NewLogHandler(slog.NewTextHandler(&b, nil))).With("component", "home")
	ctx := withRequestID(context.Background(), "REQ42")
	tests := []struct {
		name string
		log  func()
		want int
	}{
		{"from the context", func() { log.InfoContext(ctx, "domain line") }, 1},
		{"already given", func() { log.InfoContext(ctx, "rpc line", requestIDAttr, "REQ42") }, 1},
		{"no request", func() { log.InfoContext(context.Background(), "startup") }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.Reset()
			tt.log()
			if got := strings.Count(b.String(), "request_id=REQ42"); got != tt.want {
				t.Errorf("request_id appears %d times in %q, want %d", got, b.String(), tt.want)
			}
		})
	}
}
