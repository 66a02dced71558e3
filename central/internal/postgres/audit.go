package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/audit"
)

// AuditStore keeps audit records in monthly partitions, hash-chained.
type AuditStore struct {
	pool *pgxpool.Pool
	// months holds the partitions known to exist ("200601"), so a commit
	// issues DDL only when a month begins.
	mu     sync.Mutex
	months map[string]bool
	// head is the chain head this store wrote last; while nobody else
	// writes, the next commit can build on it without reading it first.
	head chainHead
	// written counts the records committed, for KeepTextIndexClean.
	written atomic.Int64
}

type chainHead struct {
	id   int64
	hash []byte
	ok   bool
}

var (
	_ audit.Store       = (*AuditStore)(nil)
	_ audit.ChainSource = (*AuditStore)(nil)
)

// NewAuditStore returns an AuditStore on pool.
func NewAuditStore(pool *pgxpool.Pool) *AuditStore {
	return &AuditStore{pool: pool, months: map[string]bool{}}
}

var auditColumns = []string{
	"id", "request_id", "kind", "user_id", "home_id", "device_id", "time", "text", "intent", "slots", "parser",
	"executed", "answer", "outcome", "error", "parse_us", "resolve_us", "execute_us", "total_us", "llm_tokens",
	"prev_hash", "hash", "action", "detail", "client_addr",
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

// encodedJSON is jsonValue of m, taking the encoding the audit writer
// already made of it when there is one.
func encodedJSON(enc json.RawMessage, m map[string]any) (any, error) {
	if enc != nil {
		return string(enc), nil
	}
	return jsonValue(m)
}

// InsertRecords implements audit.Store: it numbers and hashes the records
// onto the chain and writes them all in one transaction, so a whole batch
// shares a single commit.
func (s *AuditStore) InsertRecords(ctx context.Context, rs []audit.Record) error {
	if len(rs) == 0 {
		return nil
	}
	done, err := s.insertAtHead(ctx, rs)
	if !done && err == nil {
		err = s.insertLocked(ctx, rs)
	}
	if err == nil {
		s.written.Add(int64(len(rs)))
	}
	return err
}

// insertAtHeadSQL swaps the chain head and inserts the records in one
// statement, and inserts nothing unless the head was the expected one.
var insertAtHeadSQL = `WITH head AS (
	UPDATE audit_chain SET last_id = $1, last_hash = $2
	WHERE last_id = $3 AND last_hash IS NOT DISTINCT FROM $4 AND sealed
	RETURNING 1)
INSERT INTO audit_records (` + strings.Join(auditColumns, ", ") + `)
SELECT * FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::timestamptz[], $12::text[], $13::text[], $14::jsonb[], $15::text[], $16::jsonb[], $17::jsonb[],
	$18::text[], $19::text[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[], $24::int[],
	$25::bytea[], $26::bytea[], $27::text[], $28::jsonb[], $29::inet[])
WHERE EXISTS (SELECT 1 FROM head)`

// maxAtHead is the largest batch insertAtHead takes: a batch that large
// comes from a busy writer, where COPY's throughput matters more than the
// round trips saved.
const maxAtHead = 64

// insertAtHead is the one-round-trip commit: it chains rs onto the head this
// store wrote last and commits them with insertAtHeadSQL. It reports false,
// with nothing written, when it does not know the head, the head has moved
// (another replica wrote) or a month partition may be missing; the locked
// path then takes over.
func (s *AuditStore) insertAtHead(ctx context.Context, rs []audit.Record) (bool, error) {
	if len(rs) > maxAtHead {
		return false, nil
	}
	s.mu.Lock()
	head, missing := s.head, len(s.missingMonthsLocked(rs)) > 0
	s.mu.Unlock()
	if !head.ok || missing {
		return false, nil
	}
	lastID, lastHash, err := chain(rs, head.id, head.hash)
	if err != nil {
		return false, err
	}
	cols, err := columnsOf(rs)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, insertAtHeadSQL, append([]any{lastID, lastHash, head.id, head.hash}, cols...)...)
	if err != nil {
		return false, fmt.Errorf("insert audit records: %w", err)
	}
	if tag.RowsAffected() != int64(len(rs)) {
		return false, nil
	}
	s.setHead(lastID, lastHash)
	return true, nil
}

// insertLocked reads the chain head under its row lock, seals records
// migrated from before the chain when needed, makes sure of the month
// partitions and writes the records with one COPY.
func (s *AuditStore) insertLocked(ctx context.Context, rs []audit.Record) error {
	var created []string
	var lastID int64
	var lastHash []byte
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var sealed bool
		if err := tx.QueryRow(ctx, "SELECT last_id, last_hash, sealed FROM audit_chain FOR UPDATE").
			Scan(&lastID, &lastHash, &sealed); err != nil {
			return fmt.Errorf("lock audit chain: %w", err)
		}
		if !sealed {
			h, err := seal(ctx, tx, lastID)
			if err != nil {
				return err
			}
			lastHash = h
		}
		var err error
		if created, err = s.ensurePartitions(ctx, tx, rs); err != nil {
			return err
		}
		if lastID, lastHash, err = chain(rs, lastID, lastHash); err != nil {
			return err
		}
		rows := make([][]any, 0, len(rs))
		for _, r := range rs {
			row, err := recordRow(r)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_records"}, auditColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy audit records: %w", err)
		}
		_, err = tx.Exec(ctx, "UPDATE audit_chain SET last_id = $1, last_hash = $2, sealed = true", lastID, lastHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	s.mu.Lock()
	for _, m := range created {
		s.months[m] = true
	}
	s.mu.Unlock()
	s.setHead(lastID, lastHash)
	return nil
}

func (s *AuditStore) setHead(id int64, hash []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.head = chainHead{id: id, hash: hash, ok: true}
}

// chain numbers and links rs after the record lastID with hash lastHash and
// returns the new head.
func chain(rs []audit.Record, lastID int64, lastHash []byte) (int64, []byte, error) {
	for i := range rs {
		r := &rs[i]
		r.ID, r.PrevHash = lastID+1, lastHash
		if r.Sum == nil {
			var err error
			if r.Sum, err = audit.ContentSum(*r); err != nil {
				return 0, nil, fmt.Errorf("hash audit record: %w", err)
			}
		}
		r.Hash = audit.Link(r.PrevHash, r.ID, r.Sum)
		lastID, lastHash = r.ID, r.Hash
	}
	return lastID, lastHash, nil
}

// columnsOf turns rs into one array per column of auditColumns, in order.
func columnsOf(rs []audit.Record) ([]any, error) {
	n := len(rs)
	var (
		ids, parse, resolve, execute, total = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		requestIDs, kinds, users, homes     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		devices, texts, intents, parsers    = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		outcomes, errs                      = make([]string, n), make([]string, n)
		slots, executed, answers            = make([]any, n), make([]any, n), make([]any, n)
		times                               = make([]time.Time, n)
		tokens                              = make([]int32, n)
		prevHashes, hashes                  = make([][]byte, n), make([][]byte, n)
		actions, details, addrs             = make([]*string, n), make([]any, n), make([]*netip.Addr, n)
	)
	for i, r := range rs {
		var err error
		if slots[i], err = encodedJSON(r.SlotsJSON, r.Slots); err != nil {
			return nil, fmt.Errorf("encode slots: %w", err)
		}
		if executed[i], err = jsonValue(r.Executed); err != nil {
			return nil, fmt.Errorf("encode executed: %w", err)
		}
		if answers[i], err = jsonValue(r.Answer); err != nil {
			return nil, fmt.Errorf("encode answer: %w", err)
		}
		if details[i], err = encodedJSON(r.DetailJSON, r.Detail); err != nil {
			return nil, fmt.Errorf("encode detail: %w", err)
		}
		actions[i], addrs[i] = textOrNil(r.Action), addrOrNil(r.ClientAddr)
		ids[i], requestIDs[i], kinds[i], users[i], homes[i], devices[i] = r.ID, r.RequestID, r.Kind, r.UserID, r.HomeID, r.DeviceID
		times[i], texts[i], intents[i], parsers[i], outcomes[i], errs[i] = r.Time, r.Text, r.Intent, r.Parser, r.Outcome, r.Error
		parse[i], resolve[i], execute[i], total[i], tokens[i] = r.ParseUS, r.ResolveUS, r.ExecuteUS, r.TotalUS, int32(r.LLMTokens)
		prevHashes[i], hashes[i] = r.PrevHash, r.Hash
	}
	return []any{ids, requestIDs, kinds, users, homes, devices, times, texts, intents, slots, parsers,
		executed, answers, outcomes, errs, parse, resolve, execute, total, tokens, prevHashes, hashes,
		actions, details, addrs}, nil
}

func recordRow(r audit.Record) ([]any, error) {
	slots, err := encodedJSON(r.SlotsJSON, r.Slots)
	if err != nil {
		return nil, fmt.Errorf("encode slots: %w", err)
	}
	executed, err := jsonValue(r.Executed)
	if err != nil {
		return nil, fmt.Errorf("encode executed: %w", err)
	}
	answer, err := jsonValue(r.Answer)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	detail, err := encodedJSON(r.DetailJSON, r.Detail)
	if err != nil {
		return nil, fmt.Errorf("encode detail: %w", err)
	}
	return []any{
		r.ID, r.RequestID, r.Kind, r.UserID, r.HomeID, r.DeviceID, r.Time, r.Text, r.Intent, slots, r.Parser,
		executed, answer, r.Outcome, r.Error, r.ParseUS, r.ResolveUS, r.ExecuteUS, r.TotalUS, int32(r.LLMTokens),
		r.PrevHash, r.Hash, textOrNil(r.Action), detail, addrOrNil(r.ClientAddr),
	}, nil
}

// textOrNil is s, or NULL when empty: the action column is NULL but for
// security events, which keeps the planner's estimate for "action = $1"
// small even in a generic plan, so the action index serves it.
func textOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// addrOrNil is a for an inet column, or NULL when a is unset.
func addrOrNil(a netip.Addr) *netip.Addr {
	if !a.IsValid() {
		return nil
	}
	return &a
}

// monthOf names the partition month of t.
func monthOf(t time.Time) (string, time.Time) {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("200601"), start
}

// ensurePartitions creates the month partitions the records need, and the
// following month's ahead of time so the first commit of a month rarely
// waits for DDL. It returns the months it made sure of.
func (s *AuditStore) ensurePartitions(ctx context.Context, tx pgx.Tx, rs []audit.Record) ([]string, error) {
	s.mu.Lock()
	need := s.missingMonthsLocked(rs)
	s.mu.Unlock()
	var done []string
	for name, start := range need {
		if _, err := tx.Exec(ctx, fmt.Sprintf(
			"CREATE TABLE IF NOT EXISTS audit_records_p%s PARTITION OF audit_records FOR VALUES FROM ('%s') TO ('%s')",
			name, start.Format(time.RFC3339), start.AddDate(0, 1, 0).Format(time.RFC3339))); err != nil {
			return nil, fmt.Errorf("create audit partition %s: %w", name, err)
		}
		done = append(done, name)
	}
	return done, nil
}

// missingMonthsLocked returns the partitions rs need (their months and the
// following ones) that are not known to exist; s.mu must be held.
func (s *AuditStore) missingMonthsLocked(rs []audit.Record) map[string]time.Time {
	var need map[string]time.Time
	for _, r := range rs {
		for _, t := range []time.Time{r.Time, r.Time.AddDate(0, 1, 0)} {
			if name, start := monthOf(t); !s.months[name] {
				if need == nil {
					need = map[string]time.Time{}
				}
				need[name] = start
			}
		}
	}
	return need
}

// seal hashes the records migrated from before the chain existed, in order,
// and returns the last hash.
func seal(ctx context.Context, tx pgx.Tx, lastID int64) ([]byte, error) {
	var prev []byte
	var recs []audit.Record
	if err := walk(ctx, tx, 0, func(r audit.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("seal audit chain: %w", err)
	}
	for _, r := range recs {
		if r.ID > lastID {
			break
		}
		h, err := audit.Digest(prev, r)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "UPDATE audit_records SET prev_hash = $2, hash = $3 WHERE id = $1 AND time = $4",
			r.ID, prev, h, r.Time); err != nil {
			return nil, fmt.Errorf("seal audit record %d: %w", r.ID, err)
		}
		prev = h
	}
	return prev, nil
}

// ChainHead implements audit.ChainSource.
func (s *AuditStore) ChainHead(ctx context.Context) (audit.Head, error) {
	return chainHeadOf(ctx, s.pool)
}

// Verify checks the chain as of one snapshot: the head and the records are
// read in one repeatable-read transaction, so a record committed while the
// chain is walked is not mistaken for a changed one (audit.Verify on the
// store itself reads them apart, which is only right when nothing writes).
func (s *AuditStore) Verify(ctx context.Context) (audit.Verified, error) {
	var v audit.Verified
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		v, err = audit.Verify(ctx, snapshotChain{tx})
		return err
	})
	return v, err
}

// snapshotChain is the chain as one transaction sees it.
type snapshotChain struct{ tx pgx.Tx }

func (c snapshotChain) ChainHead(ctx context.Context) (audit.Head, error) {
	return chainHeadOf(ctx, c.tx)
}

func (c snapshotChain) WalkRecords(ctx context.Context, after int64, fn func(audit.Record) error) error {
	return walk(ctx, c.tx, after, fn)
}

func chainHeadOf(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (audit.Head, error) {
	var h audit.Head
	var sealed bool
	err := q.QueryRow(ctx, "SELECT last_id, last_hash, anchor_id, anchor_hash, sealed FROM audit_chain").
		Scan(&h.LastID, &h.LastHash, &h.AnchorID, &h.AnchorHash, &sealed)
	if err != nil {
		return h, fmt.Errorf("read audit chain: %w", err)
	}
	if !sealed {
		return h, errors.New("audit chain not sealed yet: migrated records get their hashes on the first commit")
	}
	return h, nil
}

// WalkRecords implements audit.ChainSource, streaming in id order.
func (s *AuditStore) WalkRecords(ctx context.Context, after int64, fn func(audit.Record) error) error {
	return walk(ctx, s.pool, after, fn)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func walk(ctx context.Context, q querier, after int64, fn func(audit.Record) error) error {
	rows, err := q.Query(ctx, "SELECT "+strings.Join(auditColumns, ", ")+" FROM audit_records WHERE id > $1 ORDER BY id", after)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanRecord(row pgx.Row) (audit.Record, error) {
	var r audit.Record
	var tokens int32
	var action *string
	var addr *netip.Addr
	err := row.Scan(&r.ID, &r.RequestID, &r.Kind, &r.UserID, &r.HomeID, &r.DeviceID, &r.Time, &r.Text, &r.Intent,
		&r.Slots, &r.Parser, &r.Executed, &r.Answer, &r.Outcome, &r.Error,
		&r.ParseUS, &r.ResolveUS, &r.ExecuteUS, &r.TotalUS, &tokens, &r.PrevHash, &r.Hash,
		&action, &r.Detail, &addr)
	r.LLMTokens = int(tokens)
	if action != nil {
		r.Action = *action
	}
	if addr != nil {
		r.ClientAddr = *addr
	}
	return r, err
}

// Records returns the records f selects, newest first.
func (s *AuditStore) Records(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	for _, eq := range []struct {
		col, v string
	}{
		{"home_id", f.HomeID}, {"user_id", f.UserID}, {"device_id", f.DeviceID}, {"request_id", f.RequestID},
		{"kind", f.Kind}, {"outcome", f.Outcome},
	} {
		if eq.v != "" {
			add(eq.col+" = $%d", eq.v)
		}
	}
	intentArg := 0
	if f.Intent != "" {
		args = append(args, f.Intent)
		intentArg = len(args)
	}
	if f.Text != "" {
		// With a selective equality filter, the rows of that home, user or
		// device are few: scanning them beats the trigram index, which the
		// planner would otherwise pick for common words. Matching an
		// expression of the column keeps the planner off that index.
		col := "text"
		if f.HomeID != "" || f.UserID != "" || f.DeviceID != "" || f.RequestID != "" {
			col = "(text || '')"
		}
		add(col+` ILIKE $%d ESCAPE '\'`, "%"+likeEscaper.Replace(f.Text)+"%")
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
	page := func(cond ...string) string {
		q := "SELECT " + strings.Join(auditColumns, ", ") + " FROM audit_records"
		if c := append(where[:len(where):len(where)], cond...); len(c) > 0 {
			q += " WHERE " + strings.Join(c, " AND ")
		}
		return q + fmt.Sprintf(" ORDER BY time DESC, id DESC LIMIT %d", limit)
	}
	q := page()
	if intentArg > 0 {
		// A security event's action counts as its intent, as it always
		// did: older records keep it in the intent column, newer in action
		// (ADR 0029). Each column gets its own ordered page, which its index
		// serves; an OR of the two makes the planner scan far more.
		q = fmt.Sprintf("(%s) UNION ALL (%s) ORDER BY time DESC, id DESC LIMIT %d",
			page(fmt.Sprintf("intent = $%d", intentArg)),
			page(fmt.Sprintf("action = $%d", intentArg), fmt.Sprintf("intent <> $%d", intentArg)), limit)
	}
	// Planned for its own values every time: a cached generic plan guesses
	// an average intent is common and scans the whole table, newest first,
	// for a rare one (seconds on millions of records).
	rows, err := s.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("query audit records: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Record, error) { return scanRecord(row) })
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// DropBefore drops every monthly partition that ends at or before cutoff and
// moves the chain anchor past the records it held. It returns the dropped
// partitions' names.
func (s *AuditStore) DropBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	var dropped []string
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM audit_chain FOR UPDATE"); err != nil {
			return fmt.Errorf("lock audit chain: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
			WHERE p.relname = 'audit_records' ORDER BY c.relname`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			start, err := time.Parse("200601", strings.TrimPrefix(name, "audit_records_p"))
			if err != nil || !start.AddDate(0, 1, 0).After(start) || start.AddDate(0, 1, 0).After(cutoff) {
				continue
			}
			// The anchor is the newest record dropped so far.
			if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE audit_chain c SET anchor_id = r.id, anchor_hash = r.hash
				FROM (SELECT id, hash FROM %s ORDER BY id DESC LIMIT 1) r WHERE r.id > c.anchor_id`,
				pgx.Identifier{name}.Sanitize())); err != nil {
				return fmt.Errorf("move audit anchor: %w", err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
			dropped = append(dropped, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit retention: %w", err)
	}
	s.mu.Lock()
	for _, n := range dropped {
		delete(s.months, strings.TrimPrefix(n, "audit_records_p"))
	}
	s.mu.Unlock()
	return dropped, nil
}
