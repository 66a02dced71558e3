package rpc

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/homeplane/homeplane/protocol/gen/homeplane/v1" // registers the descriptors
)

// procedures lists every RPC of every service in package homeplane.v1, as
// Connect procedure paths, from the generated file descriptors.
func procedures(t testing.TB) []string {
	t.Helper()
	var out []string
	protoregistry.GlobalFiles.RangeFilesByPackage("homeplane.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				out = append(out, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(out) < 20 {
		t.Fatalf("found only %d procedures in homeplane.v1; descriptors not registered?", len(out))
	}
	return out
}

func TestPolicyCoversEveryProcedure(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range procedures(t) {
		seen[p] = true
		if _, ok := policy[p]; !ok {
			t.Errorf("procedure %s has no access policy", p)
		}
	}
	for p := range policy {
		if !seen[p] && p != DashboardPath {
			t.Errorf("policy lists %s, which no service defines", p)
		}
	}
}

func TestPolicyOnlyProcessAdmitsDevices(t *testing.T) {
	for p, a := range policy {
		if a == accessUserOrDevice && p != "/homeplane.v1.IntentService/Process" && p != "/homeplane.v1.IntentService/WatchTimers" {
			t.Errorf("%s admits devices", p)
		}
		if (strings.HasPrefix(p, "/homeplane.v1.AdminService/") || p == DashboardPath) && a != accessAdmin {
			t.Errorf("%s is %v, want admin", p, a)
		}
	}
}

// TestEveryProcedureServedAndGuarded calls every procedure over plain HTTP
// with Connect JSON and no token: each must be mounted, and each non-public
// one must refuse with Unauthenticated before any handler runs.
func TestEveryProcedureServedAndGuarded(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range procedures(t) {
		t.Run(p, func(t *testing.T) {
			if isStreaming(t, p) {
				t.Skip("a streaming procedure does not speak unary JSON; see TestWatchTimersGuarded")
			}
			resp, err := e.client.Post(e.url+p, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				t.Fatalf("%s is not mounted", p)
			}
			var body struct{ Code string }
			if resp.StatusCode != http.StatusOK {
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("status %d, undecodable error body: %v", resp.StatusCode, err)
				}
			}
			public := policy[p] == accessPublic
			if public && body.Code == "unauthenticated" {
				t.Errorf("public %s asked for a token", p)
			}
			if !public && body.Code != "unauthenticated" {
				t.Errorf("%s without a token: got status %d code %q, want unauthenticated", p, resp.StatusCode, body.Code)
			}
		})
	}
}
