package intent_test

import (
	"context"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// slowTurns holds every context turn until release is closed.
type slowTurns struct {
	*intent.MemoryConversations
	release chan struct{}
}

func (s slowTurns) AddContextTurn(ctx context.Context, homeID, conversationID string, t intent.Turn, keep int) error {
	<-s.release
	return s.MemoryConversations.AddContextTurn(ctx, homeID, conversationID, t, keep)
}

// TestDeferTurnWait: under DeferTurnWait, Process answers an action while
// its conversation turn is still being stored and hands over a wait that
// returns only once the turn is there; without it, Process itself waits.
func TestDeferTurnWait(t *testing.T) {
	turns := slowTurns{intent.NewMemoryConversations(0), make(chan struct{})}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, &fakeExecutor{},
		intent.Options{Conversations: turns})
	var waits []func()
	ctx := intent.DeferTurnWait(context.Background(), func(w func()) { waits = append(waits, w) })
	resp, err := e.Process(ctx, intent.Request{RequestID: "r1", HomeID: "home-1", ConversationID: "c1", Text: "turn on the kitchen lights"})
	if err != nil || !resp.Success {
		t.Fatalf("Process = %+v, %v", resp, err)
	}
	if len(waits) != 1 {
		t.Fatalf("%d waits handed over, want 1", len(waits))
	}
	waited := make(chan struct{})
	go func() { waits[0](); close(waited) }()
	select {
	case <-waited:
		t.Fatal("the wait returned before the turn was stored")
	case <-time.After(50 * time.Millisecond):
	}
	close(turns.release)
	<-waited
	got, err := turns.Turns(context.Background(), "home-1", "c1", 1, time.Time{})
	if err != nil || len(got) != 1 || len(got[0].Targets) != 2 {
		t.Fatalf("turns after the wait = %+v, %v; want the kitchen lights' turn", got, err)
	}

	// Without DeferTurnWait the answer waits for the turn.
	turns2 := slowTurns{intent.NewMemoryConversations(0), make(chan struct{})}
	e2 := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, &fakeExecutor{},
		intent.Options{Conversations: turns2})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		_, _ = e2.Process(context.Background(), intent.Request{RequestID: "r2", HomeID: "home-1", ConversationID: "c2", Text: "turn off the kitchen lights"})
	}()
	select {
	case <-answered:
		t.Fatal("Process answered before its turn was stored")
	case <-time.After(50 * time.Millisecond):
	}
	close(turns2.release)
	<-answered
	if got, _ := turns2.Turns(context.Background(), "home-1", "c2", 1, time.Time{}); len(got) != 1 {
		t.Fatalf("turns after the answer = %+v", got)
	}
}
