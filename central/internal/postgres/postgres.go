// Package postgres adapts PostgreSQL (through pgxpool) to the domain: it opens
// the pool, applies the embedded numbered migrations, and implements the stores
// the domain packages declare.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tunes Open. The zero value is usable.
type Options struct {
	// MaxConns caps the pool; zero means the URL's pool_max_conns, or
	// DefaultMaxConns without one.
	MaxConns int32
	// Migrate applies pending migrations before Open returns.
	Migrate bool
	Logger  *slog.Logger
}

// DefaultConnectTimeout bounds one connection attempt when the database URL
// sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// DefaultMaxConns is the pool size when neither Options nor the URL set one.
// pgxpool's own default (four on a two-core machine) lets a reconnect storm's
// entity syncs hold every connection while agents' logins wait behind them
// until they time out; the broker runs up to 32 logins at once.
const DefaultMaxConns = 16

// Open connects to the database at url, checks that it answers and, when
// opts.Migrate is set, brings the schema up to date.
func Open(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error text may echo the password; keep only the kind of problem.
		return nil, errors.New("postgres: invalid database url")
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A database that does not answer fails each call within this
		// time (the API answers Unavailable) instead of holding it until
		// the call's own deadline.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	if opts.Migrate {
		logger := opts.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		if err := migrate(ctx, pool, logger); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

// Postgres error codes the stores translate into domain errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeInsufficientPriv    = "42501"
)

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// inTx runs fn in a transaction, committing when fn returns nil.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}
