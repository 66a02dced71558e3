// Package identity keeps the agent's enrolled identity (agent id, home id and
// MQTT credentials) in its state directory. The file holds a secret, so it is
// written atomically with mode 0600 inside a 0700 directory.
package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
	"github.com/homeplane/homeplane/protocol/topic"
)

// FileName is the identity file inside the state directory.
const FileName = "identity.json"

// maxFileSize bounds what Load reads; a real identity is a few hundred bytes.
const maxFileSize = 64 << 10

var (
	// ErrNotEnrolled is returned by Load when the state directory holds no identity.
	ErrNotEnrolled = errors.New("identity: not enrolled")
	// ErrInvalid is returned for an identity that is incomplete or malformed.
	ErrInvalid = errors.New("identity: invalid")
)

// Identity is what enrollment gave the agent.
type Identity struct {
	AgentID      string    `json:"agent_id"`
	HomeID       string    `json:"home_id"`
	MQTTUsername string    `json:"mqtt_username"`
	MQTTPassword string    `json:"mqtt_password"`
	MQTTURL      string    `json:"mqtt_url,omitempty"`
	CentralURL   string    `json:"central_url"`
	EnrolledAt   time.Time `json:"enrolled_at"`
}

// Validate reports every problem with id at once.
func (id Identity) Validate() error {
	var errs []error
	// Central issues ids and secrets of printable ASCII; anything else
	// (control characters for the logs, a username past what MQTT can
	// carry) is not an identity it gave (ADR 0056).
	if !printableASCII(id.AgentID, 128) {
		errs = append(errs, errors.New("agent id must be 1 to 128 printable ASCII characters"))
	}
	if !topic.ValidHomeID(id.HomeID) {
		errs = append(errs, fmt.Errorf("home id %q is not a valid home id", id.HomeID))
	}
	if !printableASCII(id.MQTTUsername, 128) {
		errs = append(errs, errors.New("mqtt username must be 1 to 128 printable ASCII characters"))
	}
	if !printableASCII(id.MQTTPassword, 512) {
		errs = append(errs, errors.New("mqtt password must be 1 to 512 printable ASCII characters"))
	}
	if id.MQTTURL != "" {
		if err := checkURL(id.MQTTURL, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"); err != nil {
			errs = append(errs, fmt.Errorf("mqtt url: %w", err))
		}
	}
	if err := checkURL(id.CentralURL, "http", "https"); err != nil {
		errs = append(errs, fmt.Errorf("central url: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// String leaves the secret out, so an Identity can be printed.
func (id Identity) String() string {
	return fmt.Sprintf("agent %s of home %s (mqtt user %s)", id.AgentID, id.HomeID, id.MQTTUsername)
}

// LogValue leaves the secret out, so an Identity can be logged by any handler.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("agent_id", id.AgentID),
		slog.String("home_id", id.HomeID),
		slog.String("mqtt_username", id.MQTTUsername),
		slog.String("mqtt_url", id.MQTTURL),
		slog.String("central_url", id.CentralURL),
		slog.Time("enrolled_at", id.EnrolledAt),
	)
}

// printableASCII reports whether s is 1 to max characters from '!' to '~'.
func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%q is not a %v URL with a host", raw, schemes)
}

// Load reads and validates the identity in dir. It returns ErrNotEnrolled
// when there is none. A file that others may read is tightened to 0600 first:
// the exposure may already have happened, but it does not go on. Callers that
// want to warn about it ask Loosened before Load.
func Load(dir string) (Identity, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, ErrNotEnrolled
	}
	if err != nil {
		return Identity{}, fmt.Errorf("open identity: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Identity{}, fmt.Errorf("stat identity: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Identity{}, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return Identity{}, fmt.Errorf("identity file %s is readable by others (mode %v) and cannot be fixed: %w", path, st.Mode().Perm(), err)
		}
	}
	if st.Size() > maxFileSize {
		return Identity{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, maxFileSize)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		return Identity{}, fmt.Errorf("read identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("%w: decode %s: %w", ErrInvalid, path, err)
	}
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// Loosened reports whether the identity file in dir is readable or writable
// by anyone but its owner, so the caller can warn before Load fixes it.
func Loosened(dir string) (fs.FileMode, bool) {
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		return 0, false
	}
	return st.Mode().Perm(), st.Mode().Perm()&0o077 != 0
}

// Save validates id and writes it to dir atomically: a temporary file in the
// same directory, synced, then renamed over the old one. dir is created with
// mode 0700 if missing, and tightened to 0700 if it is looser.
func Save(dir string, id Identity) error {
	if err := id.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("encode identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("tighten state dir: %w", err)
		}
	}
	if err := atomicfile.WritePrivate(filepath.Join(dir, FileName), append(b, '\n')); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	return nil
}
