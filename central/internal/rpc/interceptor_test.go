package rpc

import (
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	tests := []struct {
		name, header, want string
		ok                 bool
	}{
		{"bearer", "Bearer abc", "abc", true},
		{"case-insensitive scheme", "bearer abc", "abc", true},
		{"padded", "Bearer   abc  ", "abc", true},
		{"empty", "", "", false},
		{"no token", "Bearer", "", false},
		{"blank token", "Bearer    ", "", false},
		{"basic", "Basic abc", "", false},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenBytes+1), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bearer(tt.header)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("bearer(%q) = %q, %v; want %q, ok=%v", tt.header, got, err, tt.want, tt.ok)
			}
		})
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer hpd_x", "Basic x", "", "Bearer  ", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := bearer(header)
		if err != nil {
			if tok != "" {
				t.Fatalf("error %v with token %q", err, tok)
			}
			return
		}
		if tok == "" || len(tok) > maxTokenBytes || strings.TrimSpace(tok) != tok {
			t.Fatalf("bearer(%q) accepted %q", header, tok)
		}
	})
}
