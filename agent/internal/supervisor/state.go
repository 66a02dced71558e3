package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func stateFile(dir string) string { return filepath.Join(dir, "instance.json") }

// maxStateBytes bounds the state file, which only this agent writes.
const maxStateBytes = 1 << 20

func loadState(path string) (persisted, error) {
	var st persisted
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("supervisor: read state: %w", err)
	}
	if len(b) > maxStateBytes {
		return st, fmt.Errorf("supervisor: state file %s is larger than %d bytes", path, maxStateBytes)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("supervisor: decode state %s: %w", path, err)
	}
	return st, nil
}

// saveLocked writes the state atomically; s.mu is held.
func (s *Supervisor) saveLocked() {
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(s.statePth), 0o700)
	}
	if err == nil {
		tmp := s.statePth + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, s.statePth)
		}
	}
	if err != nil {
		s.log.Error("instance state not saved", "path", s.statePth, "error", err)
	}
}

func (s *Supervisor) update(fn func(*persisted)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.st)
	s.saveLocked()
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
