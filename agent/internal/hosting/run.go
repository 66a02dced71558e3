package hosting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
		names, refused, err := homeDirs(dir)
		if err != nil {
			log.Error("homes directory unreadable", "dir", dir, "error", err)
		}
		for _, r := range refused {
			refuse(log, r.name, r.path, r.why)
		}
		present := map[string]bool{}
		// Who every home is, so that no two run as one (a copied directory).
		ids := map[string]enrolled{}
		for _, name := range names {
			ids[name] = readEnrolled(filepath.Join(dir, name))
		}
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
			mu.Lock()
			other := sameIdentity(name, ids, running)
			mu.Unlock()
			if other != "" {
				refuse(log, name, filepath.Join(dir, name, RefusedFile), fmt.Errorf(
					"hosting: agent id %s or home id %s is already home %s's: a copy of its directory", ids[name].AgentID, ids[name].HomeID, other))
				continue
			}
			home, err := h.admitDir(dir, name)
			if err != nil {
				refuse(log, name, filepath.Join(dir, name, RefusedFile), err)
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

// refusal is an entry of the homes directory that is not hosted.
type refusal struct {
	name, path string
	why        error
}

// Names no home may have: the container of home N is homeplane-ha-N, and an
// upgrade sets it aside as homeplane-ha-N-previous (a standalone agent's as
// homeplane-ha-previous), so a home with such a name would take another
// home's container name.
const reservedSuffix = "previous"

// homeDirs lists the directories under dir named like homes, and refuses
// directories named otherwise and symlinks, which could lead to another
// home's directory. Regular files (books, lock, refusals) are left alone.
func homeDirs(dir string) ([]string, []refusal, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	var refused []refusal
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			refused = append(refused, refusal{name, filepath.Join(dir, name+"."+RefusedFile),
				errors.New("hosting: not a directory but a symlink; a home's directory must be its own")})
		case !e.IsDir():
		case !homeName.MatchString(name):
			refused = append(refused, refusal{name, filepath.Join(dir, name, RefusedFile),
				fmt.Errorf("hosting: %q is not a home name: 1 to 41 lower-case letters, digits, _ or -, starting with a letter or digit", name)})
		case name == reservedSuffix || strings.HasSuffix(name, "-"+reservedSuffix):
			refused = append(refused, refusal{name, filepath.Join(dir, name, RefusedFile),
				fmt.Errorf("hosting: %q ends in %q, the name an upgrade gives another home's container", name, reservedSuffix)})
		default:
			out = append(out, name)
		}
	}
	return out, refused, nil
}

// refuse writes why a home is not hosted into path, logging it the first
// time only.
func refuse(log *slog.Logger, name, path string, why error) {
	text := why.Error() + "\n"
	if b, err := os.ReadFile(path); err == nil && string(b) == text {
		return
	}
	log.Error("home not hosted", "home", name, "error", why)
	if err := atomicfile.WritePrivate(path, []byte(text)); err != nil {
		log.Warn("refusal not written", "home", name, "error", err)
	}
}

// enrolled is who a home's directory says it is (its identity file).
type enrolled struct {
	AgentID string `json:"agent_id"`
	HomeID  string `json:"home_id"`
}

// identityFile is the agent's identity in a home's directory.
const identityFile = "identity.json"

// readEnrolled reads a home's identity; a home not yet enrolled has none.
func readEnrolled(dir string) enrolled {
	var id enrolled
	f, err := os.Open(filepath.Join(dir, identityFile))
	if err != nil {
		return id
	}
	defer f.Close()
	// An identity is a few hundred bytes; more is not one.
	_ = json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&id)
	return id
}

// sameIdentity names a running home other than name with name's agent or
// home id, or returns "".
func sameIdentity(name string, ids map[string]enrolled, running map[string]context.CancelCauseFunc) string {
	me := ids[name]
	for other := range running {
		if other == name {
			continue
		}
		o := ids[other]
		if (me.AgentID != "" && o.AgentID == me.AgentID) || (me.HomeID != "" && o.HomeID == me.HomeID) {
			return other
		}
	}
	return ""
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
