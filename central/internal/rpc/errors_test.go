package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/registry"
)

func TestMapError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want connect.Code
	}{
		{"home not found", fmt.Errorf("get home: %w", home.ErrNotFound), connect.CodeNotFound},
		{"home invalid input", fmt.Errorf("%w: name too long", home.ErrInvalidInput), connect.CodeInvalidArgument},
		{"auth invalid input", fmt.Errorf("%w: password too short", auth.ErrInvalidInput), connect.CodeInvalidArgument},
		{"invalid credentials", fmt.Errorf("login: %w", auth.ErrInvalidCredentials), connect.CodeUnauthenticated},
		{"invalid token", fmt.Errorf("verify: %w", auth.ErrInvalidToken), connect.CodeUnauthenticated},
		{"device unauthenticated", fmt.Errorf("device: %w", home.ErrUnauthenticated), connect.CodeUnauthenticated},
		{"registry not found", fmt.Errorf("registry snapshot: %w", registry.ErrNotFound), connect.CodeNotFound},
		{"home offline", fmt.Errorf("execute: %w", intent.ErrHomeOffline), connect.CodeUnavailable},
		{"command timeout", fmt.Errorf("execute: %w", intent.ErrTimeout), connect.CodeDeadlineExceeded},
		{"email taken", fmt.Errorf("register: %w", auth.ErrEmailTaken), connect.CodeAlreadyExists},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), connect.CodeDeadlineExceeded},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), connect.CodeCanceled},
		{"connect error passes", connect.NewError(connect.CodePermissionDenied, errors.New("no")), connect.CodePermissionDenied},
		{"unknown", errors.New("pq: relation users does not exist"), connect.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, nil))
			ctx := withRequestID(context.Background(), "REQ1")
			got := mapError(ctx, log, "/p", tt.err)
			wantCode(t, got, tt.want)
			if tt.want == connect.CodeInternal {
				if strings.Contains(got.Error(), "relation") || !strings.Contains(got.Error(), "REQ1") {
					t.Errorf("internal error answered %q", got)
				}
				if !strings.Contains(logs.String(), "relation users") || !strings.Contains(logs.String(), "REQ1") {
					t.Errorf("internal error not logged with its request id: %s", logs.String())
				}
			} else if logs.Len() != 0 {
				t.Errorf("an expected error was logged: %s", logs.String())
			}
		})
	}
	if mapError(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "/p", nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name  string
		ready func(context.Context) error
		want  int
	}{
		{"no check", nil, http.StatusOK},
		{"ready", func(context.Context) error { return nil }, http.StatusOK},
		{"database down", func(context.Context) error { return errors.New("ping: connection refused") }, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := NewMux(http.NotFoundHandler(), tt.ready, nil)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.want {
				t.Errorf("got %d, want %d", rec.Code, tt.want)
			}
			if strings.Contains(rec.Body.String(), "refused") {
				t.Errorf("readyz leaks the cause: %q", rec.Body.String())
			}
		})
	}
}

func TestHTTPError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		ok     bool
	}{
		{"bad input", fmt.Errorf("%w: query too long", admin.ErrInvalidInput), http.StatusBadRequest, true},
		{"not found", admin.ErrNotFound, http.StatusNotFound, true},
		{"database down", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, http.StatusServiceUnavailable, true},
		{"unexpected", errors.New("boom"), http.StatusInternalServerError, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg, ok := HTTPError(tc.err)
			if status != tc.status || ok != tc.ok || msg == "" || (!ok && strings.Contains(msg, "boom")) {
				t.Fatalf("HTTPError = %d %q %v, want %d %v", status, msg, ok, tc.status, tc.ok)
			}
		})
	}
}
