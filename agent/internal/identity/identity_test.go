package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func valid() Identity {
	return Identity{
		AgentID:      "7c0e5d3a-2f1b-4c8d-9e6f-a1b2c3d4e5f6",
		HomeID:       "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b",
		MQTTUsername: "7c0e5d3a-2f1b-4c8d-9e6f-a1b2c3d4e5f6",
		MQTTPassword: "s3cret",
		MQTTURL:      "tcp://127.0.0.1:1883",
		CentralURL:   "http://127.0.0.1:8080",
		EnrolledAt:   time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	want := valid()
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", dst.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d files, want only the identity (no temp files left)", len(entries))
	}

	// Overwriting replaces the identity.
	want.MQTTPassword = "rotated"
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(dir); got.MQTTPassword != "rotated" {
		t.Fatalf("after second Save, password = %q", got.MQTTPassword)
	}
}

func TestLoadNotEnrolled(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("Load of empty dir = %v, want ErrNotEnrolled", err)
	}
}

func TestLoadTightensLooseFile(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, valid()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if mode, loose := Loosened(dir); !loose || mode != 0o644 {
		t.Fatalf("Loosened = %v, %v; want 0644, true", mode, loose)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("after Load, mode %v, want 0600", st.Mode().Perm())
	}
	if _, loose := Loosened(dir); loose {
		t.Fatal("Loosened still true after Load")
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Identity)
	}{
		{"no agent id", func(id *Identity) { id.AgentID = "" }},
		{"bad home id", func(id *Identity) { id.HomeID = "a/b" }},
		{"no username", func(id *Identity) { id.MQTTUsername = "" }},
		{"no password", func(id *Identity) { id.MQTTPassword = "" }},
		{"bad mqtt url", func(id *Identity) { id.MQTTURL = "ftp://x" }},
		{"bad central url", func(id *Identity) { id.CentralURL = "127.0.0.1:8080" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := valid()
			c.mutate(&id)
			if err := Save(t.TempDir(), id); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Save = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestLoadRejectsCorruptFile(t *testing.T) {
	cases := map[string]string{
		"not json":      "{",
		"missing field": `{"agent_id":"a","home_id":"h"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(dir); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestStringHidesSecret(t *testing.T) {
	id := valid()
	if s := id.String(); strings.Contains(s, id.MQTTPassword) {
		t.Fatalf("String() = %q exposes the password", s)
	}
	if v := id.LogValue().String(); strings.Contains(v, id.MQTTPassword) {
		t.Fatalf("LogValue() = %q exposes the password", v)
	}
}
