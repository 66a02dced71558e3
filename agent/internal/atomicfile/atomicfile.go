// Package atomicfile writes files that hold secrets or state the agent must
// not lose: readable only by the agent's user, and replaced whole, so a crash
// or a power cut leaves either the old content or the new.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpMark names the temporary files of writes in progress.
const tmpMark = ".tmp-"

// Leftover reports whether a file name is the temporary file of a write that
// a crash interrupted; whoever lists the directory may remove it.
func Leftover(name string) bool { return strings.Contains(name, tmpMark) }

// WritePrivate replaces path with b, mode 0600: it writes a temporary file
// beside it, syncs it, renames it over path and syncs the directory so the
// rename survives too.
func WritePrivate(path string, b []byte) error {
	return WritePrivateFrom(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WritePrivateFrom is WritePrivate for content that write produces, so a
// large file need not be held in memory whole.
func WritePrivateFrom(path string, write func(io.Writer) error) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp makes the file 0600, so the content is never readable by others.
	tmp, err := os.CreateTemp(dir, name+tmpMark+"*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("atomicfile: close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
