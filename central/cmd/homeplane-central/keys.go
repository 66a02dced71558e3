package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
)

// keyReloadInterval is how often a running server rereads the signing keys;
// a rotated key must not start signing sooner than that.
const keyReloadInterval = time.Minute

const keysUsage = "usage: homeplane-central keys rotate --database-url URL [--activate-in 5m] [--retain 25h]"

// runKeys serves "homeplane-central keys rotate": a new access-token key
// that every replica verifies before it signs, without logging anyone out.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New(keysUsage)
	}
	fs := flag.NewFlagSet("homeplane-central keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseURLFlag(fs, getenv)
	activate := fs.Duration("activate-in", 5*time.Minute, "when the new key starts signing; longer than the servers' key reload interval (1m)")
	retain := fs.Duration("retain", 25*time.Hour, "how long a replaced key still verifies; longer than the access token lifetime")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var errs []error
	if dbURL() == "" {
		errs = append(errs, errors.New("--database-url is required"))
	}
	if *activate < 2*keyReloadInterval {
		errs = append(errs, fmt.Errorf("--activate-in must be at least %s", 2*keyReloadInterval))
	}
	if *retain < 24*time.Hour {
		errs = append(errs, errors.New("--retain must be at least 24h, the longest access token lifetime"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	pool, err := postgres.Open(ctx, dbURL(), postgres.Options{Migrate: true, MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	key, pruned, err := auth.RotateKeys(ctx, postgres.NewAuthStore(pool), time.Now(), *activate, *retain)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintf(stderr, "added key %s, signing from %s; removed %d keys replaced more than %s ago\n",
		key.ID, key.CreatedAt.UTC().Format(time.RFC3339), pruned, *retain)
	return nil
}
