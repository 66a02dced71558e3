package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// ConversationStore keeps conversation turns in PostgreSQL so that any
// central replica can serve the next turn.
type ConversationStore struct {
	pool  *pgxpool.Pool
	turns turnBatches
}

// turnBatches writes context turns together: the turns that arrive while a
// write is under way wait for the next, which stores them all in one round
// trip and one commit. Every request that acts stores such a turn, so under
// load this takes the per-transaction work (a pool connection, a network
// round trip, a commit) from each request and pays it once per batch.
type turnBatches struct {
	mu      sync.Mutex
	queue   []*queuedTurn
	writers int // writes under way, at most maxTurnWriters

	writes, written atomic.Uint64
}

// queuedTurn is one turn's statement arguments and where its outcome goes.
type queuedTurn struct {
	args []any
	done chan error // buffered: the writer never waits for the caller
}

const (
	// maxTurnWriters writes may run at once: one more than a single writer
	// lets a batch start while another waits for the database.
	maxTurnWriters = 2
	// maxTurnBatch bounds one write's statements.
	maxTurnBatch = 256
	// turnWriteTimeout bounds a batch's write; it is no caller's own, since
	// a caller that gives up must not fail the others' turns.
	turnWriteTimeout = 10 * time.Second
)

var _ intent.ConversationStore = (*ConversationStore)(nil)

// NewConversationStore returns a ConversationStore on pool.
func NewConversationStore(pool *pgxpool.Pool) *ConversationStore {
	return &ConversationStore{pool: pool}
}

// Turns implements intent.ConversationStore. A home id that is not a uuid
// names no home and has no turns.
func (s *ConversationStore) Turns(ctx context.Context, homeID, conversationID string, limit int, since time.Time) ([]intent.Turn, error) {
	if !isHomeUUID(homeID) || limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT turn FROM conversation_turns
		WHERE home_id = $1 AND conversation_id = $2 AND at > $3
		ORDER BY seq DESC LIMIT $4`, homeID, conversationID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("conversation turns: %w", err)
	}
	defer rows.Close()
	var out []intent.Turn
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("conversation turns: %w", err)
		}
		var t intent.Turn
		if err := json.Unmarshal(doc, &t); err != nil {
			return nil, fmt.Errorf("decode conversation turn: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("conversation turns: %w", err)
	}
	return out, nil
}

// AddTurn implements intent.ConversationStore: it appends the turn and
// deletes all but the newest keep turns of the conversation, in one
// transaction.
func (s *ConversationStore) AddTurn(ctx context.Context, homeID, conversationID string, t intent.Turn, keep int) error {
	args, err := turnArgs(homeID, conversationID, t, keep)
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, addTurnSQL, args...); err != nil {
		return fmt.Errorf("store conversation turn: %w", err)
	}
	return nil
}

// AddContextTurn implements intent.ConversationStore: AddTurn with the
// commit not waiting for the WAL to reach the disk (synchronous_commit off
// for that transaction alone). Every targeted request stores such a turn
// before it acts, so this takes a disk flush out of each command's path;
// a database crash loses at most the last fraction of a second of them.
//
// Turns are written in batches (turnBatches); the call returns once its own
// turn is committed, or with ctx's error when ctx ends first, in which case
// the turn may still be stored.
func (s *ConversationStore) AddContextTurn(ctx context.Context, homeID, conversationID string, t intent.Turn, keep int) error {
	args, err := turnArgs(homeID, conversationID, t, keep)
	if err != nil {
		return err
	}
	q := &queuedTurn{args: args, done: make(chan error, 1)}
	b := &s.turns
	b.mu.Lock()
	b.queue = append(b.queue, q)
	start := b.writers < maxTurnWriters
	if start {
		b.writers++
	}
	b.mu.Unlock()
	if start {
		go s.writeTurns()
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeTurns writes queued turns, a batch at a time, until none is left.
func (s *ConversationStore) writeTurns() {
	b := &s.turns
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxTurnBatch)
		if n == 0 {
			b.writers--
			b.mu.Unlock()
			return
		}
		batch := slices.Clone(b.queue[:n])
		b.queue = slices.Delete(b.queue, 0, n)
		b.mu.Unlock()
		s.writeBatch(batch)
	}
}

// writeBatch stores batch in one transaction committed without waiting for
// the WAL flush. When the transaction fails (a turn of a home deleted just
// then breaks its foreign key), each turn is tried alone, so one bad turn
// costs no other its context.
func (s *ConversationStore) writeBatch(batch []*queuedTurn) {
	ctx, cancel := context.WithTimeout(context.Background(), turnWriteTimeout)
	defer cancel()
	s.turns.writes.Add(1)
	s.turns.written.Add(uint64(len(batch)))
	pb := &pgx.Batch{}
	pb.Queue(asyncCommit)
	for _, q := range batch {
		pb.Queue(addTurnSQL, q.args...)
	}
	err := s.pool.SendBatch(ctx, pb).Close()
	var pgErr *pgconn.PgError
	if len(batch) > 1 && errors.As(err, &pgErr) {
		for _, q := range batch {
			s.writeBatch([]*queuedTurn{q})
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("store conversation turn: %w", err)
	}
	for _, q := range batch {
		q.done <- err
	}
}

// TurnWrites reports how many context-turn writes were begun and how many
// turns they carried; their ratio is the batch size. The turns of a batch
// that failed are counted again when each is retried alone.
func (s *ConversationStore) TurnWrites() (writes, turns uint64) {
	return s.turns.writes.Load(), s.turns.written.Load()
}

// turnArgs checks a turn and returns addTurnSQL's arguments for it.
func turnArgs(homeID, conversationID string, t intent.Turn, keep int) ([]any, error) {
	if !isHomeUUID(homeID) {
		return nil, fmt.Errorf("conversation turn: home %q: not a home id", homeID)
	}
	doc, err := turnJSON(t)
	if err != nil {
		return nil, fmt.Errorf("encode conversation turn: %w", err)
	}
	// The CTE's insert is not visible to the DELETE's subquery, so the
	// offset counts one turn less.
	return []any{homeID, conversationID, t.At, doc, max(keep-1, 0)}, nil
}

// addTurnSQL appends a turn and deletes all but the newest keep turns of
// its conversation.
const addTurnSQL = `WITH ins AS (
		INSERT INTO conversation_turns (home_id, conversation_id, at, turn) VALUES ($1, $2, $3, $4) RETURNING seq
	)
	DELETE FROM conversation_turns
	WHERE home_id = $1 AND conversation_id = $2 AND seq <= (
		SELECT seq FROM conversation_turns WHERE home_id = $1 AND conversation_id = $2
		ORDER BY seq DESC OFFSET $5 LIMIT 1
	)`

// turnJSON is json.Marshal(t), written out for the shapes every turn has
// (string slots, entity ids): the reflection that encoding/json spends on a
// map of interface values cost as much CPU as the rest of storing the turn.
// Anything else in the slots is left to encoding/json.
func turnJSON(t intent.Turn) ([]byte, error) {
	b := make([]byte, 0, 128+32*len(t.Targets))
	b = append(b, `{"intent":`...)
	b, err := appendIntent(b, t.Intent)
	if err != nil {
		return nil, err
	}
	if len(t.Targets) > 0 {
		b = appendIDs(append(b, `,"targets":`...), t.Targets)
	}
	at, err := t.At.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = append(append(b, `,"at":`...), at...)
	if t.Pending {
		b = append(b, `,"pending":true`...)
	}
	if t.Device != "" {
		b = append(b, `,"device":`...)
		b = appendJSONString(b, t.Device)
	}
	if len(t.Parts) > 0 {
		b = append(b, `,"parts":[`...)
		for i, p := range t.Parts {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendIntent(append(b, `{"intent":`...), p.Intent); err != nil {
				return nil, err
			}
			if len(p.Targets) > 0 {
				b = appendIDs(append(b, `,"targets":`...), p.Targets)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(t.Options) > 0 {
		b = append(b, `,"options":[`...)
		for i, o := range t.Options {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIDs(b, o)
		}
		b = append(b, ']')
	}
	if t.Matches {
		b = append(b, `,"matches":true`...)
	}
	return append(b, '}'), nil
}

// appendIntent appends an intent as encoding/json encodes it.
func appendIntent(b []byte, in intent.Intent) ([]byte, error) {
	b = append(b, `{"Name":`...)
	b = appendJSONString(b, string(in.Name))
	b = append(b, `,"Slots":`...)
	if in.Slots == nil {
		return append(b, "null}"...), nil
	}
	keys := make([]string, 0, len(in.Slots))
	for k := range in.Slots {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, in.Slots[k]); err != nil {
			return nil, err
		}
	}
	return append(b, "}}"...), nil
}

// appendIDs appends entity ids as encoding/json encodes the slice.
func appendIDs(b []byte, ids []string) []byte {
	if ids == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
	}
	return append(b, ']')
}

// appendJSONValue appends v as encoding/json encodes it.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	}
	enc, err := json.Marshal(v)
	return append(b, enc...), err
}

// appendJSONString appends s as encoding/json encodes it: as is when it
// holds nothing to escape (printable ASCII but for ", \, <, > and &),
// otherwise by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// asyncCommit makes the current transaction's commit return before its WAL
// is flushed.
const asyncCommit = "SELECT set_config('synchronous_commit', 'off', true)"

// SweepConversations deletes turns older than before and returns how many.
func (s *ConversationStore) SweepConversations(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM conversation_turns WHERE at < $1", before)
	if err != nil {
		return 0, fmt.Errorf("sweep conversations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// isHomeUUID reports whether s is spelled as a uuid (home ids are), so that
// a malformed id is answered as "no such home" rather than a database error.
func isHomeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
