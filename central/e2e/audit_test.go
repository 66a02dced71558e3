package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// TestAuditSurvivesSIGKILL answers requests from many clients, kills central
// with SIGKILL in the middle, and checks that every request that got an
// answer has its audit record, and that the hash chain is intact.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	db := testDatabase(t)
	httpAddr := freeAddr(t)
	// 16 clients as fast as they can go: far past a user's rate limit, so
	// the test raises it.
	p := start(t, "homeplane-central", "--http-addr", httpAddr, "--mqtt-addr", freeAddr(t), "--metrics-addr", freeAddr(t), "--database-url", db,
		"--user-burst", "100000", "--user-rate", "100000")
	c := &central{url: "http://" + httpAddr, proc: p, db: db}
	eventually(t, 30*time.Second, "central /readyz", func() bool {
		resp, err := http.Get(c.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	c.auth = homeplanev1connect.NewAuthServiceClient(http.DefaultClient, c.url)
	c.homes = homeplanev1connect.NewHomeServiceClient(http.DefaultClient, c.url)
	intents := homeplanev1connect.NewIntentServiceClient(http.DefaultClient, c.url)
	token := c.user(t, "kill@example.com")
	homeID := c.createHome(t, token, "Killed")

	var mu sync.Mutex
	var answered []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := intents.Process(ctx, authed(token, &homeplanev1.ProcessRequest{
					Text: fmt.Sprintf("turn on the kitchen lights %d %d", w, i), HomeId: homeID}))
				cancel()
				var id string
				var ce *connect.Error
				switch {
				case err == nil:
					id = resp.Header().Get("Homeplane-Request-Id")
				case errors.As(err, &ce) && connect.IsWireError(ce):
					id = ce.Meta().Get("Homeplane-Request-Id")
				default:
					return // central is gone
				}
				if id == "" {
					t.Errorf("an answer without a request id: %v", err)
					return
				}
				mu.Lock()
				answered = append(answered, id)
				mu.Unlock()
			}
		})
	}
	eventually(t, 30*time.Second, "500 answered requests", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) >= 500
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	wg.Wait()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT request_id FROM audit_records")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		stored[id] = true
	}
	missing := 0
	for _, id := range answered {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d answered requests have no audit record after SIGKILL", missing, len(answered))
	}
	t.Logf("%d answered requests, %d audit records, none lost", len(answered), len(stored))

	verify := func() (string, error) {
		out, err := exec.Command(filepath.Join(binDir, "homeplane-central"), "audit", "verify", "--database-url", db).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify after SIGKILL: %v\n%s", err, out)
	}
	var victim string
	if err := conn.QueryRow(ctx, "UPDATE audit_records SET text = 'unlock the front door' WHERE id = 42 RETURNING request_id").Scan(&victim); err != nil {
		t.Fatal(err)
	}
	out, err := verify()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(out, "record 42") || !strings.Contains(out, victim) {
		t.Fatalf("audit verify after tampering: %v\n%s", err, out)
	}
}
