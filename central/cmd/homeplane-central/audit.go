package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/homeplane/homeplane/central/internal/postgres"
)

const auditUsage = "usage: homeplane-central audit verify --database-url URL"

// runAudit serves "homeplane-central audit verify": it walks the audit hash
// chain and fails naming the first record that was changed or removed.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New(auditUsage)
	}
	fs := flag.NewFlagSet("homeplane-central audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseURLFlag(fs, getenv)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if dbURL() == "" {
		return errors.New("audit verify: --database-url is required")
	}
	pool, err := postgres.Open(ctx, dbURL(), postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	v, err := postgres.NewAuditStore(pool).Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintf(stderr, "audit chain intact: %d records (ids %d to %d), head %s\n", v.Records, v.FirstID, v.LastID, v.Head)
	return nil
}
