package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// credentials is what login leaves in the config dir: one session with one
// central. Tokens never go to a central other than the one that issued them.
type credentials struct {
	CentralURL       string    `json:"central_url"`
	UserID           string    `json:"user_id"`
	Email            string    `json:"email"`
	AccessToken      string    `json:"access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

const (
	credentialsFile = "credentials.json"
	// maxCredentialsBytes bounds what is read back: the file is ours, but a
	// mistaken path should not load something huge.
	maxCredentialsBytes = 1 << 20
)

var errNotLoggedIn = errors.New("not logged in")

// credentialStore keeps credentials in dir/credentials.json, mode 0600, in a
// directory of mode 0700.
type credentialStore struct{ dir string }

// configDir is $HOMEPLANE_CONFIG_DIR, else <user config dir>/homeplane.
func configDir(getenv func(string) string) (string, error) {
	if d := getenv(envConfigDir); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config dir (set %s): %w", envConfigDir, err)
	}
	return filepath.Join(base, "homeplane"), nil
}

func (s credentialStore) path() string { return filepath.Join(s.dir, credentialsFile) }

// load reads the credentials; errNotLoggedIn when there are none. A file
// others can read is refused rather than used, as ssh does with keys.
func (s credentialStore) load() (credentials, error) {
	f, err := os.Open(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return credentials{}, errNotLoggedIn
	}
	if err != nil {
		return credentials{}, fmt.Errorf("reading credentials: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return credentials{}, fmt.Errorf("reading credentials: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return credentials{}, fmt.Errorf("credentials file %s has mode %04o; it must be 0600 (chmod 600 it, or log in again)", s.path(), st.Mode().Perm())
	}
	if st.Size() > maxCredentialsBytes {
		return credentials{}, fmt.Errorf("credentials file %s is too large", s.path())
	}
	var c credentials
	dec := json.NewDecoder(f)
	if err := dec.Decode(&c); err != nil {
		return credentials{}, fmt.Errorf("credentials file %s is damaged (log in again): %w", s.path(), err)
	}
	if c.AccessToken == "" || c.RefreshToken == "" || c.CentralURL == "" {
		return credentials{}, fmt.Errorf("credentials file %s is incomplete (log in again)", s.path())
	}
	return c, nil
}

// save writes c atomically: a reader sees the old file or the new one, never
// half of one.
func (s credentialStore) save(c credentials) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating config dir: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; tokens live here.
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("securing config dir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding credentials: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".credentials-*.json") // created 0600
	if err != nil {
		return fmt.Errorf("saving credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving credentials: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("saving credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path()); err != nil {
		return fmt.Errorf("saving credentials: %w", err)
	}
	return nil
}

// remove forgets the credentials; having none is not an error.
func (s credentialStore) remove() error {
	if err := os.Remove(s.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing credentials: %w", err)
	}
	return nil
}
