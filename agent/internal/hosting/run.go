package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// Files in a home's directory.
const (
	// EnrollmentTokenFile holds the one-time token a new home enrolls with.
	EnrollmentTokenFile = "enrollment-token"
	// LimitsFile holds the home's container limits as JSON Limits.
	LimitsFile = "limits.json"
	// RefusedFile says why the home could not be hosted; it goes once it is.
	RefusedFile = "refused"
	// ReleasedFile says when and why central released the home; a home
	// with one is not hosted again until the operator removes it.
	ReleasedFile = "released"
)

// ErrReleased is the cause of the context of a home that is no longer
// hosted: central released it or its directory was removed. The home's
// agent removes its container before it returns (ADR 0033).
var ErrReleased = errors.New("hosting: home released")

// homeName is what a home's directory may be called: it becomes part of its
// container's name.
var homeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,40}$`)

// Home is one hosted home as its agent runs it.
type Home struct {
	Name string
	// Dir is the home's own state directory (identity, outbox, ledger,
	// supervisor state, the token it minted).
	Dir             string
	EnrollmentToken string
	Slot            Slot
	// Release marks the home released and ends its context with
	// ErrReleased; its slot is freed once its agent has returned.
	Release func(reason string) error
}

// Starter runs one home's agent until ctx ends.
type Starter func(ctx context.Context, h Home) error

// Run keeps one agent running per home directory under dir: new
// directories are admitted (a port and their memory booked) and started,
// removed ones and those central released are stopped with ErrReleased and
// their slots freed. It rescans every interval until ctx ends, and returns
// when every home's agent has stopped.
func (h *Host) Run(ctx context.Context, dir string, interval time.Duration, start Starter, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hosting: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]context.CancelCauseFunc{}
	var mu sync.Mutex
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		names, err := homeDirs(dir)
		if err != nil {
			log.Error("homes directory unreadable", "dir", dir, "error", err)
		}
		present := map[string]bool{}
		for _, name := range names {
			mu.Lock()
			_, ok := running[name]
			mu.Unlock()
			if _, err := os.Stat(filepath.Join(dir, name, ReleasedFile)); err == nil {
				if !ok {
					// Released before the agent last stopped: the slot may
					// still be booked.
					_ = h.Release(name)
				}
				continue
			}
			present[name] = true
			if ok {
				continue
			}
			home, err := h.admitDir(dir, name)
			if err != nil {
				log.Error("home not hosted", "home", name, "error", err)
				_ = atomicfile.WritePrivate(filepath.Join(dir, name, RefusedFile), []byte(err.Error()+"\n"))
				continue
			}
			_ = os.Remove(filepath.Join(dir, name, RefusedFile))
			hctx, cancel := context.WithCancelCause(ctx)
			home.Release = func(reason string) error {
				stamp := time.Now().UTC().Format(time.RFC3339) + " " + reason + "\n"
				if err := atomicfile.WritePrivate(filepath.Join(home.Dir, ReleasedFile), []byte(stamp)); err != nil {
					return fmt.Errorf("hosting: %w", err)
				}
				cancel(ErrReleased)
				return nil
			}
			mu.Lock()
			running[name] = cancel
			mu.Unlock()
			log.Info("hosting home", "home", name, "port", home.Slot.Port, "memory_bytes", home.Slot.Limits.MemoryBytes)
			wg.Go(func() {
				err := start(hctx, home)
				if err != nil && hctx.Err() == nil {
					log.Error("hosted home stopped; it starts again at the next scan", "home", name, "error", err)
				}
				if errors.Is(context.Cause(hctx), ErrReleased) {
					// Its container is gone now, so the port is free.
					if err := h.Release(name); err != nil && !errors.Is(err, ErrUnknownHome) {
						log.Warn("home not released", "home", name, "error", err)
					}
					log.Info("home released", "home", name)
				}
				mu.Lock()
				delete(running, name)
				mu.Unlock()
				cancel(nil)
			})
		}
		mu.Lock()
		for name, cancel := range running {
			if !present[name] {
				log.Info("home directory removed or released; no longer hosting it", "home", name)
				cancel(ErrReleased)
			}
		}
		mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// homeDirs lists the directories under dir named like homes.
func homeDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && homeName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// admitDir reads a home directory's limits and token and books its slot.
func (h *Host) admitDir(dir, name string) (Home, error) {
	home := Home{Name: name, Dir: filepath.Join(dir, name)}
	var lim Limits
	b, err := os.ReadFile(filepath.Join(home.Dir, LimitsFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return home, err
	default:
		if err := json.Unmarshal(b, &lim); err != nil {
			return home, fmt.Errorf("%s: %w", LimitsFile, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(home.Dir, EnrollmentTokenFile)); err == nil {
		home.EnrollmentToken = strings.TrimSpace(string(b))
	}
	if home.Slot, err = h.Admit(name, lim); err != nil {
		return home, err
	}
	return home, nil
}
