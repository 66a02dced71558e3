package envfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestGetenv(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", maxSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    map[string]string // name → value the returned getenv gives
		wantErr []string          // parts of the error, all of them
	}{
		{
			name: "file variant read and trimmed",
			env:  map[string]string{"HOMEPLANE_DATABASE_URL_FILE": "testdata/database_url.good", "HOMEPLANE_LOG_LEVEL": "debug"},
			want: map[string]string{
				"HOMEPLANE_DATABASE_URL": "postgres://homeplane:s3cret@db:5432/homeplane?sslmode=disable",
				"HOMEPLANE_LOG_LEVEL":    "debug",
			},
		},
		{
			name: "plain variable still works",
			env:  map[string]string{"HOMEPLANE_HA_TOKEN": "plain"},
			want: map[string]string{"HOMEPLANE_HA_TOKEN": "plain"},
		},
		{
			name: "file without final newline",
			env:  map[string]string{"HOMEPLANE_HA_TOKEN_FILE": "testdata/token.good"},
			want: map[string]string{"HOMEPLANE_HA_TOKEN": "tok-123"},
		},
		{
			name: "a _FILE for a name that is not a secret is ignored",
			env:  map[string]string{"HOMEPLANE_LOG_LEVEL_FILE": "testdata/token.good"},
			want: map[string]string{"HOMEPLANE_LOG_LEVEL": ""},
		},
		{
			name: "every problem at once",
			env: map[string]string{
				"HOMEPLANE_DATABASE_URL": "postgres://x", "HOMEPLANE_DATABASE_URL_FILE": "testdata/database_url.good",
				"HOMEPLANE_HA_TOKEN_FILE":         "testdata/empty.bad",
				"HOMEPLANE_ENROLLMENT_TOKEN_FILE": "testdata/missing",
				"HOMEPLANE_LLM_API_KEY_FILE":      "testdata/two-lines.bad",
				"HOMEPLANE_HASIM_TOKEN_FILE":      big,
			},
			wantErr: []string{
				"HOMEPLANE_DATABASE_URL and HOMEPLANE_DATABASE_URL_FILE are both set",
				"HOMEPLANE_HA_TOKEN_FILE: testdata/empty.bad is empty",
				"HOMEPLANE_ENROLLMENT_TOKEN_FILE: open testdata/missing",
				"HOMEPLANE_LLM_API_KEY_FILE: testdata/two-lines.bad holds more than one line",
				"HOMEPLANE_HASIM_TOKEN_FILE: " + big + " is larger than 64 KiB",
			},
		},
	}
	secrets := []string{"HOMEPLANE_DATABASE_URL", "HOMEPLANE_HA_TOKEN", "HOMEPLANE_ENROLLMENT_TOKEN", "HOMEPLANE_LLM_API_KEY", "HOMEPLANE_HASIM_TOKEN"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get, err := Getenv(env(tt.env), secrets...)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got := get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
