package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestManagedLifecycleKeepsTheHomeWorking runs a managed simulator the agent
// onboarded itself through kill, restart, re-provision, upgrade and a
// rolled-back upgrade. The token the agent minted lives in the simulator's
// /config volume, as it does in Home Assistant's, so after every operation
// the next sentence must work again; how long that takes is logged
// (docs/benchmarks.md records a run).
func TestManagedLifecycleKeepsTheHomeWorking(t *testing.T) {
	needDocker(t)
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	suffix := randomSuffix()
	repo := "homeplane-e2e-hasim-" + suffix
	v1 := hasimImage(t, repo, "2026.1.0", true)
	v2 := hasimImage(t, repo, "2026.2.0", true)
	// A release that dies at once: the upgrade to it must roll back.
	broken := hasimImage(t, repo, "2026.3.0", true, "--start-delay", "60s", "--exit-after", "0.5s")
	container := "homeplane-e2e-ha-" + suffix
	t.Cleanup(func() {
		_, _ = docker(t, "rm", "--force", container)
		_, _ = docker(t, "volume", "rm", "--force", container+"-config", container+"-config-snapshot")
	})
	homeID, _, _ := c.managedHomeWith(t, alice, "lifecycle-home", v1, container, true)
	eventually(t, 90*time.Second, "entities synced with the minted token", func() bool {
		e, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: homeID}))
		return err == nil && len(e.Msg.GetEntities()) > 0
	})

	on := true
	// sentenceWorks says "turn on/off the kitchen lights" until Home
	// Assistant carries it out, and returns how long that took from since.
	sentenceWorks := func(t *testing.T, since time.Time) time.Duration {
		t.Helper()
		text := "turn off the kitchen lights"
		if on {
			text = "turn on the kitchen lights"
		}
		on = !on
		var last string
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			resp, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: text, HomeId: homeID}))
			if err == nil && resp.Msg.GetSuccess() {
				return time.Since(since)
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("%q (%s)", resp.Msg.GetSpeech(), resp.Msg.GetErrorCode())
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%q never worked; last answer %s", text, last)
		return 0
	}
	control := func(t *testing.T, action homeplanev1.InstanceAction, image string) (*homeplanev1.Instance, error) {
		t.Helper()
		resp, err := c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{
			HomeId: homeID, Action: action, Image: image}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.GetInstance(), nil
	}
	getInstance := func() *homeplanev1.Instance {
		resp, err := c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: homeID}))
		if err != nil {
			t.Fatalf("GetInstance: %v", err)
		}
		return resp.Msg.GetInstance()
	}
	sentenceWorks(t, time.Now())

	steps := []struct {
		name    string
		op      func(t *testing.T) error
		version string // reported after the step
	}{
		{"kill", func(t *testing.T) error {
			_, err := docker(t, "kill", container)
			return err
		}, "2026.1.0"},
		{"restart", func(t *testing.T) error {
			_, err := control(t, homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART, "")
			return err
		}, "2026.1.0"},
		{"re-provision", func(t *testing.T) error {
			_, err := control(t, homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION, v1)
			return err
		}, "2026.1.0"},
		{"upgrade", func(t *testing.T) error {
			_, err := control(t, homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, v2)
			return err
		}, "2026.2.0"},
		{"rollback", func(t *testing.T) error {
			in, err := control(t, homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, broken)
			if err == nil {
				return fmt.Errorf("upgrade to a release that dies succeeded: %v", in)
			}
			return nil // rolled back, which is the point
		}, "2026.2.0"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			began := time.Now()
			if err := st.op(t); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			d := sentenceWorks(t, began)
			t.Logf("lifecycle %-12s → first successful sentence after %v", st.name, d.Round(time.Millisecond))
			eventually(t, 60*time.Second, "version "+st.version+" reported", func() bool {
				in := getInstance()
				return in.GetVersion() == st.version && in.GetState() == "running"
			})
			if in := getInstance(); in.GetLastEvent() == "ha_auth_failed" {
				t.Errorf("Home Assistant refused the agent after %s: %v", st.name, in)
			}
		})
	}
}

// TestAdoptedHomeReportsWhatHomeAssistantShows: an agent that does not own
// the container reports Home Assistant's version, health and last answer
// from its API, and a refused token shows as such instead of "unknown".
func TestAdoptedHomeReportsWhatHomeAssistantShows(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	haAddr := freeAddr(t)
	start(t, "hasim", "--addr", haAddr, "--token", "right", "--version", "2026.8.1")
	agent := func(name, token string) string {
		homeID := c.createHome(t, alice, name)
		et, err := c.homes.CreateEnrollmentToken(ctx, authed(alice, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: homeID}))
		if err != nil {
			t.Fatal(err)
		}
		start(t, "homeplane-agent", "--central-url", c.url, "--mqtt-url", c.mqttURL,
			"--enrollment-token", et.Msg.GetToken(), "--state-dir", t.TempDir(),
			"--ha-url", "http://"+haAddr, "--ha-token", token, "--sample-interval", "1s")
		return homeID
	}
	get := func(homeID string) *homeplanev1.Instance {
		resp, err := c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: homeID}))
		if err != nil {
			t.Fatalf("GetInstance: %v", err)
		}
		return resp.Msg.GetInstance()
	}
	good := agent("adopted-home", "right")
	refused := agent("refused-home", "wrong")
	eventually(t, 30*time.Second, "the adopted home's status", func() bool {
		in := get(good)
		return in.GetMode() == "adopted" && in.GetState() == "running" && in.GetHealth() == "healthy" &&
			in.GetVersion() == "2026.8.1" && in.GetLastSuccessAt() != nil
	})
	eventually(t, 30*time.Second, "the refused home's status", func() bool {
		in := get(refused)
		return in.GetHealth() == "auth_failed" && in.GetLastEvent() == "ha_auth_failed" && in.GetLastSuccessAt() == nil
	})

	t.Run("to-do lists take items", func(t *testing.T) {
		eventually(t, 30*time.Second, "the adopted home's entities", func() bool {
			e, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: good}))
			return err == nil && len(e.Msg.GetEntities()) > 0
		})
		h := &home{haURL: "http://" + haAddr, haToken: "right"}
		for _, tc := range []struct{ text, list, count string }{
			{"add call the plumber to my personal tasks", "todo.personal_tasks", "1"},
			{"add milk to the shopping list", "todo.shopping_list", "1"},
		} {
			resp, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: tc.text, HomeId: good}))
			if err != nil || !resp.Msg.GetSuccess() {
				t.Fatalf("%q: %v %v", tc.text, resp, err)
			}
			if st, err := h.haState(tc.list); err != nil || st != tc.count {
				t.Errorf("%q: %s = %q, %v; want %s open item", tc.text, tc.list, st, err, tc.count)
			}
		}
	})
}
