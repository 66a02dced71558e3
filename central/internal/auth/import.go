package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ImportedUser is one account from the system Homeplane replaces.
type ImportedUser struct {
	Line  int
	Email string
	Hash  string // passlib pbkdf2_sha256
}

// Import file bounds.
const (
	maxImportLine  = 1024
	maxImportUsers = 1_000_000
)

// ParseImport reads "email,hash" lines (blank lines and lines starting
// with # are skipped) and reports every bad line at once.
func ParseImport(r io.Reader) ([]ImportedUser, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxImportLine), maxImportLine)
	var (
		out  []ImportedUser
		errs []error
		seen = map[string]int{}
	)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(out) >= maxImportUsers {
			return nil, fmt.Errorf("%w: more than %d users", ErrInvalidInput, maxImportUsers)
		}
		email, hash, ok := strings.Cut(line, ",")
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: want email,hash", n))
			continue
		}
		e, err := NormalizeEmail(email)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		hash = strings.TrimSpace(hash)
		if err := CheckImportedHash(hash); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if prev, dup := seen[e]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s already on line %d", n, e, prev))
			continue
		}
		seen[e] = n
		out = append(out, ImportedUser{Line: n, Email: e, Hash: hash})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read import file: %v", ErrInvalidInput, err)
	}
	return out, errors.Join(errs...)
}

// ImportUsers creates each user with role "user" and the imported hash,
// which Login accepts once and replaces with argon2id. An email already
// registered is skipped and counted, never overwritten.
func ImportUsers(ctx context.Context, store Store, users []ImportedUser, now time.Time) (created, skipped int, err error) {
	for _, iu := range users {
		id, err := newUUID()
		if err != nil {
			return created, skipped, err
		}
		_, err = store.CreateUser(ctx, User{ID: id, Email: iu.Email, Role: RoleUser, CreatedAt: now.UTC()}, iu.Hash)
		switch {
		case errors.Is(err, ErrEmailTaken):
			skipped++
		case err != nil:
			return created, skipped, fmt.Errorf("import line %d: %w", iu.Line, err)
		default:
			created++
		}
	}
	return created, skipped, nil
}
