package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sampleCredentials() credentials {
	return credentials{
		CentralURL:       "https://central.example",
		UserID:           "user-1",
		Email:            "carol@example.com",
		AccessToken:      "access",
		AccessExpiresAt:  time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		RefreshToken:     "refresh",
		RefreshExpiresAt: time.Date(2030, 2, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestCredentialStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "homeplane")
	s := credentialStore{dir: dir}
	if _, err := s.load(); !errors.Is(err, errNotLoggedIn) {
		t.Fatalf("load before save: %v, want errNotLoggedIn", err)
	}
	want := sampleCredentials()
	if err := s.save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if !got.AccessExpiresAt.Equal(want.AccessExpiresAt) || got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.CentralURL != want.CentralURL {
		t.Errorf("loaded %+v, want %+v", got, want)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, s.path(), 0o600)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("config dir holds %d entries, want only %s", len(entries), credentialsFile)
	}

	if err := s.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load(); !errors.Is(err, errNotLoggedIn) {
		t.Errorf("load after remove: %v", err)
	}
	if err := s.remove(); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

func TestCredentialStoreTightensExistingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "homeplane")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (credentialStore{dir: dir}).save(sampleCredentials()); err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700)
}

func TestCredentialStoreRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"readable by others", `{"central_url":"x","access_token":"a","refresh_token":"r"}`, 0o644},
		{"damaged", `{"central_url":`, 0o600},
		{"incomplete", `{"central_url":"x"}`, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credentialStore{dir: t.TempDir()}
			if err := os.WriteFile(s.path(), []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(s.path(), tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			_, err := s.load()
			if err == nil || errors.Is(err, errNotLoggedIn) {
				t.Errorf("load gave %v, want a refusal", err)
			}
		})
	}
}

func TestConfigDir(t *testing.T) {
	got, err := configDir(func(k string) string {
		if k == envConfigDir {
			return "/somewhere/else"
		}
		return ""
	})
	if err != nil || got != "/somewhere/else" {
		t.Errorf("configDir with %s = %q, %v", envConfigDir, got, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	t.Setenv("HOME", "/home/someone")
	got, err = configDir(func(string) string { return "" })
	if err != nil || filepath.Base(got) != "homeplane" {
		t.Errorf("default configDir = %q, %v", got, err)
	}
}

func assertMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}
