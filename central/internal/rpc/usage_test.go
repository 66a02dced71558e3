package rpc

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/usage"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// dailyUsage is a hand-written DailyUsage: one day of use, the scopes asked.
type dailyUsage struct {
	mu     sync.Mutex
	scopes []usage.Scope
}

func (d *dailyUsage) Daily(_ context.Context, since, _ time.Time, s usage.Scope) ([]usage.Day, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scopes = append(d.scopes, s)
	return []usage.Day{{DayUsage: usage.DayUsage{Day: since.UTC().Truncate(24 * time.Hour), CPUCoreHours: 1.5, Intents: 3}, Price: 0.25}}, nil
}

func (d *dailyUsage) Currency() string { return "EUR" }

// GetUsage asks for the caller's own homes, or one of them, and nobody
// else's: the scope always names the caller.
func TestGetUsageIsTheCallersOwn(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients().home
	ctx := context.Background()
	since, until := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	req := func(home string) *connect.Request[homeplanev1.GetUsageRequest] {
		r := connect.NewRequest(&homeplanev1.GetUsageRequest{HomeId: home, Since: timestamppb.New(since), Until: timestamppb.New(until)})
		r.Header().Set("Authorization", "Bearer "+accessToken(e.alice))
		return r
	}
	all, err := c.GetUsage(ctx, req(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Msg.GetDays()) != 1 || all.Msg.GetDays()[0].GetCpuCoreHours() != 1.5 || all.Msg.GetDays()[0].GetIntents() != 3 ||
		all.Msg.GetCurrency() != "EUR" || !all.Msg.GetDays()[0].GetDay().AsTime().Equal(since) {
		t.Fatalf("usage = %v", all.Msg)
	}
	if _, err := c.GetUsage(ctx, req(e.aliceHome.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUsage(ctx, req(e.bobHome.ID)); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("bob's home: %v, want NotFound", err)
	}
	bad := req("")
	bad.Msg.HomeId = strings.Repeat("x", 200)
	if _, err := c.GetUsage(ctx, bad); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a 200-character home id: %v, want InvalidArgument", err)
	}
	// Without a period: this month so far.
	month := req("")
	month.Msg.Since, month.Msg.Until = nil, nil
	got, err := c.GetUsage(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Msg.GetDays()[0].GetDay().AsTime(); d.Day() != 1 || d.Month() != time.Now().UTC().Month() {
		t.Errorf("default period starts %v, want the first of this month", d)
	}
	want := []usage.Scope{{UserID: e.alice.ID}, {UserID: e.alice.ID, HomeID: e.aliceHome.ID}, {UserID: e.alice.ID}}
	if len(e.usage.scopes) != 3 || e.usage.scopes[0] != want[0] || e.usage.scopes[1] != want[1] || e.usage.scopes[2] != want[2] {
		t.Fatalf("scopes asked = %+v, want %+v", e.usage.scopes, want)
	}
}
