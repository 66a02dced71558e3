package main

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr []string
	}{
		{name: "flags", args: []string{"--token", "T", "--addr", "127.0.0.1:9000", "--delay", "250ms", "--start-delay", "3", "--fail-services", "--version", "2025.1.0"},
			want: config{addr: "127.0.0.1:9000", token: "T", version: "2025.1.0", delay: 250 * time.Millisecond, startDelay: 3 * time.Second, failServices: true}},
		{name: "environment", env: map[string]string{"HOMEPLANE_HASIM_TOKEN": "E", "HOMEPLANE_HASIM_EXIT_AFTER": "1.5", "HOMEPLANE_HASIM_UNHEALTHY": "true"},
			want: config{addr: "127.0.0.1:8123", token: "E", version: "2026.8.1", exitAfter: 1500 * time.Millisecond, unhealthy: true}},
		{name: "flags beat environment", args: []string{"--token", "F"}, env: map[string]string{"HOMEPLANE_HASIM_TOKEN": "E"},
			want: config{addr: "127.0.0.1:8123", token: "F", version: "2026.8.1"}},
		{name: "every problem at once", args: []string{"--delay", "soon", "--addr", "nope"}, env: map[string]string{"HOMEPLANE_HASIM_UNHEALTHY": "maybe"},
			wantErr: []string{"--delay", "--addr", "--token", "HOMEPLANE_HASIM_UNHEALTHY"}},
		{name: "negative duration", args: []string{"--token", "T", "--exit-after", "-1"}, wantErr: []string{"--exit-after"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.args, func(k string) string { return tc.env[k] })
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
