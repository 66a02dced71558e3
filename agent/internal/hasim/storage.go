package hasim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// Home Assistant keeps what must survive a restart in <config>/.storage, one
// JSON file per key, each wrapped as {"version", "minor_version", "key",
// "data"} (core helpers/storage.py). The simulator keeps the same files, in
// the same shapes, for the parts it simulates: onboarding progress, the
// auth store (users, credentials, refresh and long-lived tokens) and the
// restore-state dump of the entities' last states.
const (
	storageDir          = ".storage"
	keyOnboarding       = "onboarding"
	keyAuth             = "auth"
	keyRestoreState     = "core.restore_state"
	versionOnboarding   = 4
	versionAuth         = 1
	versionRestoreState = 1
	// maxStorageFile bounds a storage file read at start.
	maxStorageFile = 64 << 20
)

// storageFile is core's on-disk envelope.
type storageFile[T any] struct {
	Version      int    `json:"version"`
	MinorVersion int    `json:"minor_version"`
	Key          string `json:"key"`
	Data         T      `json:"data"`
}

// onboardingData is .storage/onboarding: the steps done so far.
type onboardingData struct {
	Done []string `json:"done"`
}

// restoredState is one item of .storage/core.restore_state.
type restoredState struct {
	State     State           `json:"state"`
	ExtraData json.RawMessage `json:"extra_data"`
	LastSeen  string          `json:"last_seen"`
}

// UnmarshalJSON reads the state object core writes (State.as_dict).
func (s *State) UnmarshalJSON(b []byte) error {
	var raw stateJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = State{EntityID: raw.EntityID, State: raw.State, Attributes: raw.Attributes, Context: raw.Context}
	for _, t := range []struct {
		in  string
		out *time.Time
	}{{raw.LastChanged, &s.LastChanged}, {raw.LastReported, &s.LastReported}, {raw.LastUpdated, &s.LastUpdated}} {
		if t.in == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.in)
		if err != nil {
			return fmt.Errorf("state %s: %w", raw.EntityID, err)
		}
		*t.out = v.UTC()
	}
	if s.LastReported.IsZero() {
		s.LastReported = s.LastUpdated
	}
	if s.Attributes == nil {
		s.Attributes = map[string]any{}
	}
	return nil
}

// storagePath is where key lives under dir.
func storagePath(dir, key string) string { return filepath.Join(dir, storageDir, key) }

// readStorage loads key into data; false when the file does not exist.
func readStorage[T any](dir, key string, data *T) (bool, error) {
	path := storagePath(dir, key)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage %s: %w", key, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxStorageFile {
		return false, fmt.Errorf("storage %s: larger than %d bytes", key, maxStorageFile)
	}
	var env storageFile[T]
	if err := json.NewDecoder(f).Decode(&env); err != nil {
		return false, fmt.Errorf("storage %s: decode: %w", path, err)
	}
	if env.Key != key {
		return false, fmt.Errorf("storage %s: key is %q", path, env.Key)
	}
	*data = env.Data
	return true, nil
}

// writeStorage replaces key atomically (core writes its private files,
// auth among them, through a temporary file and a rename too), mode 0600.
func writeStorage[T any](dir, key string, version int, data T) error {
	if err := os.MkdirAll(filepath.Join(dir, storageDir), 0o700); err != nil {
		return fmt.Errorf("storage %s: %w", key, err)
	}
	b, err := json.MarshalIndent(storageFile[T]{Version: version, MinorVersion: 1, Key: key, Data: data}, "", "  ")
	if err != nil {
		return fmt.Errorf("storage %s: %w", key, err)
	}
	return atomicfile.WritePrivate(storagePath(dir, key), b)
}

// loadRestoredStates returns the states the last run left, by entity id.
func loadRestoredStates(dir string) (map[string]restoredState, error) {
	var items []restoredState
	if _, err := readStorage(dir, keyRestoreState, &items); err != nil {
		return nil, err
	}
	out := make(map[string]restoredState, len(items))
	for _, it := range items {
		if validEntityID(it.State.EntityID) {
			out[it.State.EntityID] = it
		}
	}
	return out, nil
}

// saveStates writes the restore-state dump. The simulated devices keep the
// state they were put in, so it is written after every change rather than
// every 15 minutes and at stop as core does: a killed container must come
// back showing what the home looked like.
func (s *Server) saveStates() {
	if s.opts.ConfigDir == "" {
		return
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	if !s.statesDirty {
		s.mu.Unlock()
		return
	}
	s.statesDirty = false
	now := isoTime(s.now())
	items := make([]restoredState, 0, len(s.order))
	for _, id := range s.order {
		// Extra data is what an entity keeps beside its state; here a to-do
		// list's items (core's local_todo keeps them in a file of its own).
		extra := json.RawMessage("null")
		if list, ok := s.todo[id]; ok {
			extra, _ = json.Marshal(map[string]any{"items": list})
		}
		items = append(items, restoredState{State: s.states[id].clone(), ExtraData: extra, LastSeen: now})
	}
	s.mu.Unlock()
	if err := writeStorage(s.opts.ConfigDir, keyRestoreState, versionRestoreState, items); err != nil {
		s.log.Error("states not saved", "error", err)
		s.mu.Lock()
		s.statesDirty = true
		s.mu.Unlock()
	}
}
