package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// ConversationStore keeps conversation turns in PostgreSQL so that any
// central replica can serve the next turn.
type ConversationStore struct {
	pool *pgxpool.Pool
}

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
	return s.addTurn(ctx, true, homeID, conversationID, t, keep)
}

// AddContextTurn implements intent.ConversationStore: AddTurn with the
// commit not waiting for the WAL to reach the disk (synchronous_commit off
// for that transaction alone). Every targeted request stores such a turn
// before it acts, so this takes a disk flush out of each command's path;
// a database crash loses at most the last fraction of a second of them.
func (s *ConversationStore) AddContextTurn(ctx context.Context, homeID, conversationID string, t intent.Turn, keep int) error {
	return s.addTurn(ctx, false, homeID, conversationID, t, keep)
}

func (s *ConversationStore) addTurn(ctx context.Context, durable bool, homeID, conversationID string, t intent.Turn, keep int) error {
	if !isHomeUUID(homeID) {
		return fmt.Errorf("conversation turn: home %q: not a home id", homeID)
	}
	doc, err := turnJSON(t)
	if err != nil {
		return fmt.Errorf("encode conversation turn: %w", err)
	}
	const add = `WITH ins AS (
		INSERT INTO conversation_turns (home_id, conversation_id, at, turn) VALUES ($1, $2, $3, $4) RETURNING seq
	)
	DELETE FROM conversation_turns
	WHERE home_id = $1 AND conversation_id = $2 AND seq <= (
		SELECT seq FROM conversation_turns WHERE home_id = $1 AND conversation_id = $2
		ORDER BY seq DESC OFFSET $5 LIMIT 1
	)`
	// The CTE's insert is not visible to the DELETE's subquery, so the
	// offset counts one turn less.
	args := []any{homeID, conversationID, t.At, doc, max(keep-1, 0)}
	if durable {
		if _, err := s.pool.Exec(ctx, add, args...); err != nil {
			return fmt.Errorf("store conversation turn: %w", err)
		}
		return nil
	}
	// A batch is one implicit transaction (one Sync), so the local setting
	// covers the turn's commit and nothing after it, in one round trip.
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	b.Queue(add, args...)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store conversation turn: %w", err)
	}
	return nil
}

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
