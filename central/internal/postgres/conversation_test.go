package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

const (
	convUser = "00000000-0000-0000-0000-00000000000a"
	convHome = "00000000-0000-0000-0000-0000000000a1"
	convNone = "00000000-0000-0000-0000-0000000000ff"
)

func seedHome(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, 'c@example.com', 'x', now())`, convUser); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO homes (id, owner_id, name, created_at) VALUES ($1, $2, 'Home', now())`, convHome, convUser); err != nil {
		tb.Fatal(err)
	}
}

func TestConversationStore(t *testing.T) {
	pool, url := pgtest.NewURL(t)
	seedHome(t, pool)
	ctx := context.Background()
	// A second pool stands for another central replica.
	other, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	a, b := postgres.NewConversationStore(pool), postgres.NewConversationStore(other)

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		turn := intent.Turn{
			Intent:  intent.Intent{Name: "HassTurnOn", Slots: map[string]any{"area": "Kitchen", "n": i}},
			Targets: []string{"light.kitchen"},
			At:      t0.Add(time.Duration(i) * time.Second),
		}
		add := a.AddTurn
		if i%2 == 1 {
			add = a.AddContextTurn
		}
		if err := add(ctx, convHome, "conv-1", turn, 3); err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
	}
	got, err := b.Turns(ctx, convHome, "conv-1", 10, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d turns kept, want the window of 3: %+v", len(got), got)
	}
	if n, _ := got[0].Intent.Number("n"); n != 4 || got[0].Intent.Slot("area") != "Kitchen" || got[0].Targets[0] != "light.kitchen" {
		t.Errorf("newest turn = %+v", got[0])
	}
	if n, _ := got[2].Intent.Number("n"); n != 2 {
		t.Errorf("oldest kept turn = %+v, want n=2", got[2])
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM conversation_turns").Scan(&rows); err != nil || rows != 3 {
		t.Errorf("%d rows stored (%v), want 3", rows, err)
	}

	tests := []struct {
		name, home, conv string
		limit            int
		since            time.Time
		want             int
	}{
		{name: "limit", home: convHome, conv: "conv-1", limit: 1, want: 1},
		{name: "since", home: convHome, conv: "conv-1", limit: 10, since: t0.Add(3 * time.Second), want: 1},
		{name: "other conversation", home: convHome, conv: "conv-2", limit: 10, want: 0},
		{name: "other home", home: convNone, conv: "conv-1", limit: 10, want: 0},
		{name: "malformed home", home: "not-a-uuid", conv: "conv-1", limit: 10, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Turns(ctx, tt.home, tt.conv, tt.limit, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("%d turns, want %d", len(got), tt.want)
			}
		})
	}

	if err := a.AddTurn(ctx, "not-a-uuid", "c", intent.Turn{At: t0}, 3); err == nil {
		t.Error("AddTurn accepted a malformed home id")
	}
	n, err := a.SweepConversations(ctx, t0.Add(4*time.Second))
	if err != nil || n != 2 {
		t.Errorf("swept %d (%v), want 2", n, err)
	}
}

func TestPipelineStore(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	ctx := context.Background()
	s := postgres.NewPipelineStore(pool)
	if p, err := s.Pipeline(ctx, convHome); err != nil || p != intent.PipelineRules {
		t.Fatalf("default pipeline %q, %v", p, err)
	}
	for _, p := range []intent.Pipeline{intent.PipelineLLM, intent.PipelineRulesThenLLM} {
		if err := s.SetPipeline(ctx, convHome, p); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Pipeline(ctx, convHome); err != nil || got != p {
			t.Errorf("pipeline %q, %v; want %q", got, err, p)
		}
	}
	if err := s.SetPipeline(ctx, convHome, "telepathy"); !errors.Is(err, intent.ErrUnknownPipeline) {
		t.Errorf("unknown pipeline: %v", err)
	}
	if err := s.SetPipeline(ctx, convNone, intent.PipelineLLM); err == nil {
		t.Error("pipeline stored for a home that does not exist")
	}
	if p, err := s.Pipeline(ctx, "nope"); err != nil || p != intent.PipelineRules {
		t.Errorf("malformed home: %q, %v", p, err)
	}
}

// A context turn's commit skips the wait for the disk, and only its own:
// the setting is local to the batch's implicit transaction, so the pooled
// connection goes back to durable commits.
func TestContextTurnCommitsAsynchronouslyAlone(t *testing.T) {
	_, url := pgtest.NewURL(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every call below uses the same connection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	seedHome(t, pool)

	b := &pgx.Batch{}
	b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
	var inside string
	b.Queue("SHOW synchronous_commit").QueryRow(func(r pgx.Row) error { return r.Scan(&inside) })
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if inside != "off" {
		t.Fatalf("synchronous_commit inside the batch = %q, want off", inside)
	}

	store := postgres.NewConversationStore(pool)
	if err := store.AddContextTurn(ctx, convHome, "c", intent.Turn{At: time.Now()}, 3); err != nil {
		t.Fatal(err)
	}
	var after string
	if err := pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&after); err != nil || after != "on" {
		t.Fatalf("synchronous_commit after a context turn = %q (%v), want on", after, err)
	}
	if turns, err := store.Turns(ctx, convHome, "c", 5, time.Time{}); err != nil || len(turns) != 1 {
		t.Fatalf("Turns = %d, %v; want the context turn", len(turns), err)
	}
	if err := store.AddContextTurn(ctx, "not-a-uuid", "c", intent.Turn{At: time.Now()}, 3); err == nil {
		t.Error("AddContextTurn accepted a malformed home id")
	}
}

// holdTurnWriters locks the turns' table, then starts one context turn
// per writer, so both writers wait on the lock and every turn added next
// queues; the returned func releases the lock.
func holdTurnWriters(t *testing.T, pool *pgxpool.Pool, store *postgres.ConversationStore) (release func(), held chan error) {
	t.Helper()
	ctx := context.Background()
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE conversation_turns IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	writes, _ := store.TurnWrites()
	held = make(chan error, 2)
	for i := range 2 {
		go func() {
			held <- store.AddContextTurn(ctx, convHome, "held-"+string(rune('a'+i)), intent.Turn{At: time.Now()}, 3)
		}()
		waitFor(t, "a writer to wait on the lock", 10*time.Second, func() bool { w, _ := store.TurnWrites(); return w == writes+uint64(i)+1 })
	}
	return func() {
		if err := lock.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}, held
}

func TestContextTurnsShareOneWrite(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	store := postgres.NewConversationStore(pool)
	ctx := context.Background()

	release, held := holdTurnWriters(t, pool, store)
	const convs, per = 10, 10
	errs := make(chan error, convs*per)
	for i := range convs * per {
		go func() {
			turn := intent.Turn{Intent: intent.Intent{Name: "HassTurnOn"}, At: time.Now()}
			errs <- store.AddContextTurn(ctx, convHome, "conv-"+strconv.Itoa(i%convs), turn, 3)
		}()
	}
	waitFor(t, "every turn to queue", 10*time.Second, func() bool { return postgres.QueuedTurns(store) == convs*per })
	release()
	for range convs * per {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	writes, turns := store.TurnWrites()
	if turns != convs*per+2 || writes != 3 {
		t.Fatalf("%d turns in %d writes; want %d turns in 3 (two held, then one for the queue)", turns, writes, convs*per+2)
	}
	for i := range convs {
		got, err := store.Turns(ctx, convHome, "conv-"+strconv.Itoa(i), 10, time.Time{})
		if err != nil || len(got) != 3 {
			t.Fatalf("conversation %d kept %d turns (%v), want the newest 3", i, len(got), err)
		}
	}
}

func TestContextTurnOfAGoneHomeFailsAlone(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	store := postgres.NewConversationStore(pool)
	ctx := context.Background()

	release, held := holdTurnWriters(t, pool, store)
	type outcome struct {
		home string
		err  error
	}
	out := make(chan outcome, 6)
	homes := []string{convHome, convHome, convNone, convHome, convHome, convHome}
	for i, home := range homes {
		go func() {
			out <- outcome{home, store.AddContextTurn(ctx, home, "gone-"+strconv.Itoa(i), intent.Turn{At: time.Now()}, 3)}
		}()
	}
	waitFor(t, "every turn to queue", 10*time.Second, func() bool { return postgres.QueuedTurns(store) == len(homes) })
	release()
	<-held
	<-held
	for range homes {
		o := <-out
		if o.home == convNone && o.err == nil {
			t.Error("a turn for a home that does not exist was stored")
		}
		if o.home == convHome && o.err != nil {
			t.Errorf("a good turn failed beside the bad one: %v", o.err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM conversation_turns WHERE conversation_id LIKE 'gone-%'").Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d turns stored (%v), want the 5 good ones", n, err)
	}
}
