package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// userCodeLine is how the reference device shows its code.
var userCodeLine = regexp.MustCompile(`enter ([B-Z]{4}-[B-Z]{4})`)

// homectl runs homectl against c with its own config dir and returns its
// stdout, failing the test unless it exits 0.
func (c *central) homectl(t testing.TB, configDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "homectl"), args...)
	cmd.Env = append(os.Environ(), "HOMEPLANE_CENTRAL_URL="+c.url, "HOMEPLANE_CONFIG_DIR="+configDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("homectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// form posts an RFC 8628 form request as firmware would and decodes the
// JSON answer.
func form(t testing.TB, u string, values url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, values)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("POST %s: %s with a body that is not JSON: %v", u, resp.Status, err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST %s: Cache-Control %q, want no-store", u, resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, m
}

// TestReferenceDevicePairsAndSpeaks runs homectl as a voice device: it
// pairs through RFC 8628's form endpoints while its owner approves the code
// with homectl, then turns on the kitchen lights with the token it got.
func TestReferenceDevicePairsAndSpeaks(t *testing.T) {
	c := startCentral(t, "--pairing-interval", "1s")
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	bob := c.user(t, "bob@example.com")
	h := c.enrolledHome(t, alice, "alice-home")
	lights := kitchenLights(t, c, alice, h.id)
	pairings := homeplanev1connect.NewPairingServiceClient(http.DefaultClient, c.url)

	t.Run("homectl pairs, the owner approves, the token speaks", func(t *testing.T) {
		tokenFile := filepath.Join(t.TempDir(), "device-token")
		// It polls faster than asked, so central tells it to slow down.
		device := start(t, "homectl", "--central-url", c.url, "device", "pair", "--name", "Kitchen satellite",
			"--token-file", tokenFile, "--poll-every", "200ms")
		var code string
		eventually(t, 10*time.Second, "the device shows its code", func() bool {
			m := userCodeLine.FindStringSubmatch(device.output())
			if m != nil {
				code = m[1]
			}
			return code != ""
		})
		if !strings.Contains(device.output(), c.url+"/pair") {
			t.Errorf("the device does not show the verification URI:\n%s", device.output())
		}
		eventually(t, 10*time.Second, "central asks the device to slow down", func() bool {
			return strings.Contains(device.output(), "central asked to slow down; polling every 6s")
		})

		// Bob cannot put the device in alice's home.
		_, err := pairings.ApprovePairing(ctx, authed(bob, &homeplanev1.ApprovePairingRequest{UserCode: code, HomeId: h.id}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("bob approving for alice's home: %v, want NotFound", err)
		}
		cfg := t.TempDir()
		c.homectl(t, cfg, "login", "--email", "alice@example.com", "--password", "correct horse battery")
		out := c.homectl(t, cfg, "pair", strings.ToLower(code), "--home", h.id, "--area", "Kitchen")
		if !strings.Contains(out, `Approved "Kitchen satellite"`) {
			t.Fatalf("homectl pair: %q", out)
		}
		select {
		case <-device.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("the device did not finish pairing:\n%s", device.output())
		}
		if code := device.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("device pair exited %d:\n%s", code, device.output())
		}
		token, err := os.ReadFile(tokenFile)
		if err != nil || !strings.HasPrefix(string(token), "hpd_") {
			t.Fatalf("token file: %q, %v", token, err)
		}
		if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
			t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
		}
		said := c.homectl(t, t.TempDir(), "say", "--device-token", strings.TrimSpace(string(token)), "turn on the kitchen lights")
		if strings.TrimSpace(said) != "Turned on the lights" {
			t.Fatalf("the paired device said %q", said)
		}
		for _, id := range lights {
			if st, err := h.haState(id); err != nil || st != "on" {
				t.Errorf("%s = %q, %v after the paired device spoke", id, st, err)
			}
		}
		devices, err := c.homes.ListDevices(ctx, authed(alice, &homeplanev1.ListDevicesRequest{HomeId: h.id}))
		if err != nil || len(devices.Msg.GetDevices()) != 1 || devices.Msg.GetDevices()[0].GetArea() != "Kitchen" {
			t.Fatalf("alice's devices: %v, %v", devices.Msg.GetDevices(), err)
		}
	})

	t.Run("form endpoints: slow_down, one redemption", func(t *testing.T) {
		status, grant := form(t, c.url+"/oauth/device/code", url.Values{"client_id": {"esp32-satellite"}})
		if status != http.StatusOK || grant["interval"] != 1.0 || grant["expires_in"] != 600.0 {
			t.Fatalf("device authorization: %d %v", status, grant)
		}
		code := grant["user_code"].(string)
		if grant["verification_uri_complete"] != c.url+"/pair?code="+code {
			t.Errorf("verification_uri_complete %v", grant["verification_uri_complete"])
		}
		poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {grant["device_code"].(string)}}
		if status, m := form(t, c.url+"/oauth/token", poll); status != http.StatusBadRequest || m["error"] != "authorization_pending" {
			t.Fatalf("first poll: %d %v", status, m)
		}
		if status, m := form(t, c.url+"/oauth/token", poll); status != http.StatusBadRequest || m["error"] != "slow_down" || m["interval"] != 6.0 {
			t.Fatalf("poll at once: %d %v, want slow_down with interval 6", status, m)
		}
		if _, err := pairings.ApprovePairing(ctx, authed(alice, &homeplanev1.ApprovePairingRequest{
			UserCode: code, HomeId: h.id, Name: "Hall panel",
		})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		status, m := form(t, c.url+"/oauth/token", poll)
		token, _ := m["access_token"].(string)
		if status != http.StatusOK || !strings.HasPrefix(token, "hpd_") || m["token_type"] != "Bearer" || m["home_id"] != h.id {
			t.Fatalf("poll after approval: %d %v", status, m)
		}
		time.Sleep(6 * time.Second)
		if status, m := form(t, c.url+"/oauth/token", poll); status != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
			t.Fatalf("second redemption: %d %v, want invalid_grant", status, m)
		}
		resp, err := c.intents.Process(ctx, authed(token, &homeplanev1.ProcessRequest{Text: "turn off the kitchen lights"}))
		if err != nil || !resp.Msg.GetSuccess() {
			t.Fatalf("Process with the paired token: %v, %v", resp, err)
		}
		if status, m := form(t, c.url+"/oauth/token", url.Values{"grant_type": {"password"}}); status != http.StatusBadRequest || m["error"] != "unsupported_grant_type" {
			t.Errorf("password grant: %d %v", status, m)
		}
	})
}

// TestPairingCodesExpire lets a device's codes run out: the reference
// device stops with the RFC's expired_token, and the code cannot be
// approved any more.
func TestPairingCodesExpire(t *testing.T) {
	c := startCentral(t, "--pairing-ttl", "10s", "--pairing-interval", "1s")
	alice := c.user(t, "alice@example.com")
	homeID := c.createHome(t, alice, "alice-home")
	began := time.Now()
	device := start(t, "homectl", "--central-url", c.url, "device", "pair")
	var code string
	eventually(t, 10*time.Second, "the device shows its code", func() bool {
		if m := userCodeLine.FindStringSubmatch(device.output()); m != nil {
			code = m[1]
		}
		return code != ""
	})
	select {
	case <-device.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the device still waits after its code expired:\n%s", device.output())
	}
	if took := time.Since(began); took < 10*time.Second {
		t.Errorf("the device gave up after %s, before its code expired", took)
	}
	if device.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(device.output(), "the code expired") {
		t.Fatalf("device pair after expiry: exit %d\n%s", device.cmd.ProcessState.ExitCode(), device.output())
	}
	pairings := homeplanev1connect.NewPairingServiceClient(http.DefaultClient, c.url)
	_, err := pairings.ApprovePairing(context.Background(), authed(alice, &homeplanev1.ApprovePairingRequest{UserCode: code, HomeId: homeID}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("approving an expired code: %v, want NotFound", err)
	}
}
