// Package envfile reads secrets from files named by HOMEPLANE_*_FILE
// environment variables, the convention Docker and Kubernetes secrets use:
// HOMEPLANE_DATABASE_URL_FILE=/run/secrets/database_url stands for
// HOMEPLANE_DATABASE_URL set to that file's content. Central and the agent
// both use it, so it lives in the module they share.
package envfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Suffix turns a variable's name into the name of its file variant.
const Suffix = "_FILE"

// maxSize bounds a secret file: a URL, a token or a key, never a log.
const maxSize = 64 << 10

// Getenv returns a getenv that answers each of secrets from its _FILE
// variant when that is set, and every other name from getenv. All files are
// read at once, so every problem is reported together: a variable set both
// ways, a file that cannot be read, is empty or is too large.
func Getenv(getenv func(string) string, secrets ...string) (func(string) string, error) {
	values := map[string]string{}
	var errs []error
	for _, name := range secrets {
		path := getenv(name + Suffix)
		if path == "" {
			continue
		}
		if getenv(name) != "" {
			errs = append(errs, fmt.Errorf("%s and %s%s are both set: keep one", name, name, Suffix))
			continue
		}
		v, err := Read(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", name, Suffix, err))
			continue
		}
		values[name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return getenv(name)
	}, nil
}

// Read returns a secret file's content without the surrounding whitespace
// (editors and `echo` add a final newline).
func Read(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxSize {
		return "", fmt.Errorf("%s is larger than %d KiB", path, maxSize>>10)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("%s holds more than one line", path)
	}
	return v, nil
}
