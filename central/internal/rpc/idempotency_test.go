package rpc

import (
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// An instance action with an idempotency key runs once; a retry gets the
// first answer, the key is the caller's own, and reusing it for another
// action is refused. Keys live in PostgreSQL as every replica shares them.
func TestControlInstanceIdempotencyKey(t *testing.T) {
	pool := pgtest.New(t)
	keeper := &idempotency.Keeper{Store: postgres.NewIdempotencyStore(pool)}
	restart := homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART
	var n int
	var mu sync.Mutex
	answer := func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
		mu.Lock()
		n++
		mu.Unlock()
		in := running()
		in.Version = cmd.Id // tells the runs apart
		return &homeplanev1.Result{CommandId: cmd.Id, Ok: true, Instance: in}, nil
	}
	e := newInstanceEnvWith(t, true, keeper)
	e.cmds.answer = answer
	call := func(token, homeID string, action homeplanev1.InstanceAction, key string) (*homeplanev1.ControlInstanceResponse, error) {
		resp, err := e.home.ControlInstance(t.Context(), as(token, &homeplanev1.ControlInstanceRequest{HomeId: homeID, Action: action, IdempotencyKey: key}))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	alice, bob := accessToken(e.alice), accessToken(e.bob)

	first, err := call(alice, e.aliceHome.ID, restart, "restart-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := call(alice, e.aliceHome.ID, restart, "restart-1")
	if err != nil || !proto.Equal(first, again) || e.cmds.count() != 1 {
		t.Fatalf("retry = %v, %v after %d commands; want the first answer %v and one command", again, err, e.cmds.count(), first)
	}
	if id := e.cmds.sent[0].GetId(); !strings.HasPrefix(id, "idem-") || id != idempotency.CommandID(idempotency.UserScope(e.alice.ID), "restart-1") {
		t.Fatalf("command id %q is not derived from the key", id)
	}
	// The same key for another action is refused and sends nothing.
	_, err = call(alice, e.aliceHome.ID, homeplanev1.InstanceAction_INSTANCE_ACTION_STOP, "restart-1")
	wantCode(t, err, connect.CodeInvalidArgument)
	// Bob's key of the same name is his own; alice's home stays invisible to him.
	if _, err := call(bob, e.aliceHome.ID, restart, "restart-1"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("bob with alice's home and key: %v, want NotFound", err)
	}
	bobs, err := call(bob, e.bobHome.ID, restart, "restart-1")
	if err != nil || proto.Equal(bobs, first) || e.cmds.count() != 2 {
		t.Fatalf("bob's own call = %v, %v after %d commands", bobs, err, e.cmds.count())
	}
	if e.cmds.sent[1].GetId() == e.cmds.sent[0].GetId() {
		t.Fatal("two users' keys of the same name sent the same command id")
	}
	// A bad key is refused before anything is sent.
	_, err = call(alice, e.aliceHome.ID, restart, "has space")
	wantCode(t, err, connect.CodeInvalidArgument)
	if e.cmds.count() != 2 {
		t.Fatalf("%d commands sent", e.cmds.count())
	}
}
