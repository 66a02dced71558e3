package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/audit"
)

// AuditStore keeps audit records.
type AuditStore struct {
	pool *pgxpool.Pool
}

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns an AuditStore on pool.
func NewAuditStore(pool *pgxpool.Pool) *AuditStore { return &AuditStore{pool: pool} }

var auditColumns = []string{
	"request_id", "kind", "user_id", "home_id", "device_id", "time", "text", "intent", "slots", "parser",
	"executed", "answer", "outcome", "error", "parse_us", "resolve_us", "execute_us", "total_us", "llm_tokens",
}

// jsonValue encodes v for a jsonb column; nil stays NULL.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		if v == nil {
			return nil, nil
		}
	case json.RawMessage:
		return string(v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// InsertRecords implements audit.Store with one COPY, so a batch of records
// shares a single round trip and commit.
func (s *AuditStore) InsertRecords(ctx context.Context, rs []audit.Record) error {
	rows := make([][]any, 0, len(rs))
	for _, r := range rs {
		slots, err := jsonValue(r.Slots)
		if err != nil {
			return fmt.Errorf("encode slots: %w", err)
		}
		executed, err := jsonValue(r.Executed)
		if err != nil {
			return fmt.Errorf("encode executed: %w", err)
		}
		answer, err := jsonValue(r.Answer)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		rows = append(rows, []any{
			r.RequestID, r.Kind, r.UserID, r.HomeID, r.DeviceID, r.Time, r.Text, r.Intent, slots, r.Parser,
			executed, answer, r.Outcome, r.Error, r.ParseUS, r.ResolveUS, r.ExecuteUS, r.TotalUS, int32(r.LLMTokens),
		})
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"audit_records"}, auditColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	return nil
}

// Records returns the records f selects, newest first.
func (s *AuditStore) Records(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.HomeID != "" {
		add("home_id = $%d", f.HomeID)
	}
	if f.UserID != "" {
		add("user_id = $%d", f.UserID)
	}
	if f.RequestID != "" {
		add("request_id = $%d", f.RequestID)
	}
	if !f.Since.IsZero() {
		add("time >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("time < $%d", f.Until)
	}
	if f.Before.ID != 0 {
		args = append(args, f.Before.Time, f.Before.ID)
		where = append(where, fmt.Sprintf("(time, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := "SELECT id, " + strings.Join(auditColumns, ", ") + " FROM audit_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY time DESC, id DESC LIMIT %d", limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit records: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Record, error) {
		var r audit.Record
		var tokens int32
		err := row.Scan(&r.ID, &r.RequestID, &r.Kind, &r.UserID, &r.HomeID, &r.DeviceID, &r.Time, &r.Text, &r.Intent,
			&r.Slots, &r.Parser, &r.Executed, &r.Answer, &r.Outcome, &r.Error,
			&r.ParseUS, &r.ResolveUS, &r.ExecuteUS, &r.TotalUS, &tokens)
		r.LLMTokens = int(tokens)
		return r, err
	})
}
