package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
)

const usersUsage = `usage:
  homeplane-central users import FILE --database-url URL   import "email,pbkdf2_sha256 hash" lines
  homeplane-central users promote EMAIL --database-url URL  make the user an admin`

// maxImportFile bounds the import file read into memory.
const maxImportFile = 256 << 20

// runUsers serves the operator's account commands, which work on the
// database directly: "users import" and "users promote".
func runUsers(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usersUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("homeplane-central users "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseURLFlag(fs, getenv)
	arg, err := parseWithOneArg(fs, args[1:])
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usersUsage)
	}
	if dbURL() == "" {
		return fmt.Errorf("users %s: --database-url is required", verb)
	}
	switch verb {
	case "import":
		return importUsers(ctx, dbURL(), arg, stderr)
	case "promote":
		return promoteUser(ctx, dbURL(), arg, stderr)
	}
	return fmt.Errorf("unknown users command %q\n%s", verb, usersUsage)
}

// parseWithOneArg parses flags given before or after the one positional
// argument, and returns that argument.
func parseWithOneArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("missing argument")
	}
	arg := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return arg, nil
}

func importUsers(ctx context.Context, dbURL, file string, stderr io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	defer f.Close()
	users, err := auth.ParseImport(io.LimitReader(f, maxImportFile))
	if err != nil {
		return fmt.Errorf("users import: %s: nothing imported:\n%w", file, err)
	}
	pool, err := postgres.Open(ctx, dbURL, postgres.Options{Migrate: true, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	created, skipped, err := auth.ImportUsers(ctx, postgres.NewAuthStore(pool), users, time.Now())
	fmt.Fprintf(stderr, "imported %d users, skipped %d already registered\n", created, skipped)
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	return nil
}

func promoteUser(ctx context.Context, dbURL, email string, stderr io.Writer) error {
	e, err := auth.NormalizeEmail(email)
	if err != nil {
		return fmt.Errorf("users promote: %w", err)
	}
	pool, err := postgres.Open(ctx, dbURL, postgres.Options{Migrate: true, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	accounts := postgres.NewAuthStore(pool)
	err = accounts.SetRoleByEmail(ctx, e, auth.RoleAdmin, time.Now())
	if errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("users promote: no user %s", e)
	}
	if err != nil {
		return fmt.Errorf("users promote: %w", err)
	}
	u, _, err := accounts.UserByEmail(ctx, e)
	if err != nil {
		return fmt.Errorf("users promote: %w", err)
	}
	// The same record the admin API writes for a role change; the operator
	// at the console has no user id, so the action names the command.
	w := audit.NewWriter(postgres.NewAuditStore(pool), audit.Options{})
	err = w.Event(ctx, audit.Event{Kind: audit.KindAdmin, RequestID: "cli-" + rand.Text(), Action: "SetUserRole",
		Outcome: audit.OutcomeOK, Text: "homeplane-central users promote " + e,
		Detail: map[string]any{"role": auth.RoleAdmin, "target_user_id": u.ID, "via": "homeplane-central users promote"}})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("users promote: %s is an admin, but the audit record failed: %w", e, err)
	}
	fmt.Fprintf(stderr, "%s is now an admin; their sessions ended, so they log in again\n", e)
	return nil
}
