// Package hosting keeps the books of a server that hosts many homes' Home
// Assistant instances: which home holds which port of the configured range,
// and what CPU and memory each home's container may use. It admits a new
// home only while a port and the memory it asks for are free, never hands
// out a port another home holds or another process listens on, and keeps
// its books in one file so an agent restart hands every home its port back.
//
// Run keeps one agent running per home directory (hosting mode, ADR 0022).
package hosting

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// Refusals; the error text says which limit was reached and by how much.
var (
	ErrPortsExhausted  = errors.New("hosting: every port of the range is in use")
	ErrMemoryExhausted = errors.New("hosting: not enough memory left on this server")
	ErrUnknownHome     = errors.New("hosting: home not hosted here")
)

// Limits are one home's container limits; zero means none.
type Limits struct {
	MemoryBytes int64 `json:"memory_bytes"`
	NanoCPUs    int64 `json:"nano_cpus"`
}

// Slot is what one hosted home holds.
type Slot struct {
	HomeID string `json:"home_id"`
	Port   int    `json:"port"`
	Limits Limits `json:"limits"`
	// Central: the limits are central's (Resize), which win over the
	// home's limits.json when the agent starts again.
	Central bool `json:"central,omitempty"`
}

// Options tunes a Host.
type Options struct {
	// FirstPort and LastPort bound the port range (inclusive), e.g. 8200–8300.
	FirstPort, LastPort int
	// MemoryBytes is what the hosted containers may use together: the
	// host's memory less what the host itself needs.
	MemoryBytes int64
	// DefaultMemoryBytes is counted for a home without a memory limit, so
	// unlimited homes cannot overcommit the server (512 MiB).
	DefaultMemoryBytes int64
	// PortFree reports whether nothing else listens on a port; nil tries to
	// listen on it.
	PortFree func(port int) bool
}

// Host holds the books. It is safe for concurrent use.
type Host struct {
	path string
	opts Options
	// lock holds an exclusive lock on the homes directory, so that a
	// second agent cannot run the same homes (ADR 0067).
	lock *os.File

	mu    sync.Mutex
	slots []Slot
}

const (
	booksFile = "hosting.json"
	lockFile  = "hosting.lock"
)

// Open reads the books in dir, or starts empty ones.
func Open(dir string, opts Options) (*Host, error) {
	if opts.FirstPort <= 0 || opts.LastPort < opts.FirstPort || opts.LastPort > 65535 {
		return nil, fmt.Errorf("hosting: port range %d-%d is not a range of ports", opts.FirstPort, opts.LastPort)
	}
	if opts.MemoryBytes <= 0 {
		return nil, errors.New("hosting: the memory for hosted homes must be positive")
	}
	if opts.DefaultMemoryBytes <= 0 {
		opts.DefaultMemoryBytes = 512 << 20
	}
	if opts.PortFree == nil {
		opts.PortFree = listenable
	}
	h := &Host{path: filepath.Join(dir, booksFile), opts: opts}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hosting: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hosting: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("hosting: another agent hosts the homes in %s (%w)", dir, err)
	}
	h.lock = lock
	b, err := os.ReadFile(h.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		h.Close()
		return nil, fmt.Errorf("hosting: %w", err)
	default:
		if err := json.Unmarshal(b, &h.slots); err != nil {
			h.Close()
			return nil, fmt.Errorf("hosting: %s: %w", h.path, err)
		}
	}
	return h, nil
}

// listenable reports whether the port can be bound on all interfaces.
func listenable(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Admit gives home a port and books its limits; a home already hosted keeps
// its port and gets the new limits if they fit.
func (h *Host) Admit(homeID string, lim Limits) (Slot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.admitLocked(homeID, lim)
}

func (h *Host) admitLocked(homeID string, lim Limits) (Slot, error) {
	if i := h.indexLocked(homeID); i >= 0 {
		if h.slots[i].Central {
			return h.slots[i], nil
		}
		return h.resizeLocked(i, lim, false)
	}
	if err := h.fitsLocked(homeID, lim); err != nil {
		return Slot{}, err
	}
	port, err := h.freePortLocked()
	if err != nil {
		return Slot{}, err
	}
	s := Slot{HomeID: homeID, Port: port, Limits: lim}
	h.slots = append(h.slots, s)
	if err := h.saveLocked(); err != nil {
		h.slots = h.slots[:len(h.slots)-1]
		return Slot{}, err
	}
	return s, nil
}

// Resize changes a hosted home's limits to central's, refusing memory the
// server lacks.
func (h *Host) Resize(homeID string, lim Limits) (Slot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.indexLocked(homeID)
	if i < 0 {
		return Slot{}, fmt.Errorf("%w: %s", ErrUnknownHome, homeID)
	}
	return h.resizeLocked(i, lim, true)
}

func (h *Host) resizeLocked(i int, lim Limits, central bool) (Slot, error) {
	if err := h.fitsLocked(h.slots[i].HomeID, lim); err != nil {
		return Slot{}, err
	}
	old := h.slots[i]
	h.slots[i].Limits, h.slots[i].Central = lim, central
	if err := h.saveLocked(); err != nil {
		h.slots[i] = old
		return Slot{}, err
	}
	return h.slots[i], nil
}

// Release frees a home's port and memory.
func (h *Host) Release(homeID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.indexLocked(homeID)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownHome, homeID)
	}
	old := slices.Clone(h.slots)
	h.slots = slices.Delete(h.slots, i, i+1)
	if err := h.saveLocked(); err != nil {
		h.slots = old
		return err
	}
	return nil
}

// Slots returns every hosted home's slot.
func (h *Host) Slots() []Slot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.slots)
}

func (h *Host) indexLocked(homeID string) int {
	return slices.IndexFunc(h.slots, func(s Slot) bool { return s.HomeID == homeID })
}

func (h *Host) booked(l Limits) int64 {
	if l.MemoryBytes > 0 {
		return l.MemoryBytes
	}
	return h.opts.DefaultMemoryBytes
}

// fitsLocked checks that lim fits beside every other home's booking.
func (h *Host) fitsLocked(homeID string, lim Limits) error {
	if lim.MemoryBytes < 0 || lim.NanoCPUs < 0 {
		return errors.New("hosting: limits must not be negative")
	}
	var used int64
	for _, s := range h.slots {
		if s.HomeID != homeID {
			used += h.booked(s.Limits)
		}
	}
	// Compared as what is left, so that no booking can overflow the sum.
	if want := h.booked(lim); used > h.opts.MemoryBytes || want > h.opts.MemoryBytes-used {
		return fmt.Errorf("%w: %d MiB asked, %d MiB of %d MiB free", ErrMemoryExhausted,
			want>>20, (h.opts.MemoryBytes-used)>>20, h.opts.MemoryBytes>>20)
	}
	return nil
}

// freePortLocked returns the lowest port of the range that no home holds
// and nothing else listens on.
func (h *Host) freePortLocked() (int, error) {
	held := make(map[int]bool, len(h.slots))
	for _, s := range h.slots {
		held[s.Port] = true
	}
	busy := 0
	for p := h.opts.FirstPort; p <= h.opts.LastPort; p++ {
		if held[p] {
			continue
		}
		if !h.opts.PortFree(p) {
			busy++
			continue
		}
		return p, nil
	}
	return 0, fmt.Errorf("%w: %d-%d, %d held by hosted homes, %d by other processes", ErrPortsExhausted,
		h.opts.FirstPort, h.opts.LastPort, len(held), busy)
}

func (h *Host) saveLocked() error {
	b, err := json.MarshalIndent(h.slots, "", "  ")
	if err != nil {
		return fmt.Errorf("hosting: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("hosting: %w", err)
	}
	return atomicfile.WritePrivate(h.path, b)
}

// Close releases the homes directory for another agent.
func (h *Host) Close() error {
	if h.lock == nil {
		return nil
	}
	err := h.lock.Close()
	h.lock = nil
	return err
}
