package audit

import (
	"context"
	"log/slog"
	"time"
)

// Pruner drops whole stored months older than a cutoff (postgres.AuditStore).
type Pruner interface {
	DropBefore(ctx context.Context, cutoff time.Time) ([]string, error)
}

// RetentionOptions tunes RunRetention. Zero fields take the defaults shown.
type RetentionOptions struct {
	Every  time.Duration // 1h
	Now    func() time.Time
	Logger *slog.Logger
}

// RunRetention drops records older than maxAge, by month, now and then every
// opts.Every until ctx ends. A month goes only once all of it is older than
// maxAge, so records are kept at least maxAge and at most a month longer.
func RunRetention(ctx context.Context, p Pruner, maxAge time.Duration, opts RetentionOptions) {
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(opts.Every)
	defer t.Stop()
	for {
		dropped, err := p.DropBefore(ctx, opts.Now().Add(-maxAge))
		switch {
		case err != nil && ctx.Err() == nil:
			opts.Logger.ErrorContext(ctx, "audit retention failed", "err", err)
		case len(dropped) > 0:
			opts.Logger.InfoContext(ctx, "audit partitions dropped", "partitions", dropped)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
