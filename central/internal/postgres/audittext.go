package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The audit text search's trigram index is a GIN index, which takes new
// records into a pending list and merges the list into the index in bulk.
// Left to PostgreSQL, the insert that finds the list past
// gin_pending_list_limit (4 MB by default, some 8,000 records) does the
// merge itself: tens of milliseconds inside the audit writer's one commit,
// which every request then waiting for its record sits behind. The store
// merges the list on a connection of its own instead, about once a second
// while records are written, so the list holds about a second of records,
// far below the limit, and a commit does not find it full. (Turning fastupdate off also ends the stalls, but makes
// every insert update the index in place: a slower median.)

// TextCleanOptions tunes KeepTextIndexClean. Zero fields take the defaults
// shown.
type TextCleanOptions struct {
	Every  time.Duration // 1s: how often to merge while records are written
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer, when set, gets
	// homeplane_central_audit_text_index_merged_pages_total.
	Registerer prometheus.Registerer
}

// cleanPendingTextSQL merges the pending list of the text index of one
// month's partition, named by $1, and returns the pages it merged (none
// when the partition does not exist).
const cleanPendingTextSQL = `SELECT coalesce(sum(gin_clean_pending_list(i.indexrelid::regclass)), 0)
	FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid
	WHERE h.inhparent = 'audit_records_text_trgm_idx'::regclass AND i.indrelid = to_regclass($1)`

// CleanPendingText merges the pending list of the text index of the
// partition that holds records written at t into the index, and returns
// the number of pending pages merged.
func (s *AuditStore) CleanPendingText(ctx context.Context, t time.Time) (int64, error) {
	month, _ := monthOf(t)
	var pages int64
	if err := s.pool.QueryRow(ctx, cleanPendingTextSQL, "audit_records_p"+month).Scan(&pages); err != nil {
		return 0, fmt.Errorf("clean audit text index: %w", err)
	}
	return pages, nil
}

// KeepTextIndexClean runs CleanPendingText every interval in which records
// were written, for the current month and, at a month's turn, the one just
// ended, until ctx ends. It gives up, and PostgreSQL merges in the
// foreground again, when central's role may not merge (it does not own the
// index); other failures are logged once and retried.
func (s *AuditStore) KeepTextIndexClean(ctx context.Context, opts TextCleanOptions) {
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	merged := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "homeplane_central_audit_text_index_merged_pages_total",
		Help: "Pending pages of the audit text index merged off the commit path.",
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(merged)
	}
	t := time.NewTicker(opts.Every)
	defer t.Stop()
	seen, failing := s.written.Load(), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.written.Load()
		if n == seen {
			continue
		}
		seen = n
		at := opts.Now()
		months := []time.Time{at}
		if prev := at.Add(-2 * opts.Every); !sameMonth(prev, at) {
			months = append(months, prev)
		}
		var err error
		for _, m := range months {
			var pages int64
			if pages, err = s.CleanPendingText(ctx, m); err != nil {
				break
			}
			merged.Add(float64(pages))
		}
		switch {
		case err == nil:
			failing = false
		case ctx.Err() != nil:
			return
		case isCode(err, codeInsufficientPriv):
			opts.Logger.WarnContext(ctx, "audit text index left to merge in the foreground", "err", err)
			return
		case !failing:
			failing = true
			opts.Logger.WarnContext(ctx, "audit text index merge failed; retrying", "err", err)
		}
	}
}

func sameMonth(a, b time.Time) bool {
	ma, _ := monthOf(a)
	mb, _ := monthOf(b)
	return ma == mb
}
