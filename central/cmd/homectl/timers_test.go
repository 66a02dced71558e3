package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// manualClock is a timer.Clock that moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
	due map[*clockFunc]time.Time
}

type clockFunc struct {
	c *manualClock
	f func()
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), due: map[*clockFunc]time.Time{}}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) timer.Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	cf := &clockFunc{c: c, f: f}
	c.due[cf] = c.now.Add(d)
	return cf
}

func (cf *clockFunc) Stop() bool {
	cf.c.mu.Lock()
	defer cf.c.mu.Unlock()
	_, pending := cf.c.due[cf]
	delete(cf.c.due, cf)
	return pending
}

// advance moves the clock by d and runs what fell due.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var run []func()
	for cf, at := range c.due {
		if !at.After(c.now) {
			run = append(run, cf.f)
			delete(c.due, cf)
		}
	}
	c.mu.Unlock()
	for _, f := range run {
		f()
	}
}

// syncBuffer is a bytes.Buffer safe to read while homectl writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// background is a homectl run that goes on until stopped, like Ctrl-C.
type background struct {
	t           testing.TB
	out, errOut syncBuffer
	stop        context.CancelFunc
	code        chan int
}

// start runs homectl with args in the background.
func (c *cli) start(args ...string) *background {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{t: c.t, stop: cancel, code: make(chan int, 1)}
	env := c.environment(&b.out, &b.errOut)
	go func() { b.code <- run(ctx, args, env) }()
	c.t.Cleanup(func() {
		cancel()
		<-b.code
	})
	return b
}

// lines waits until homectl has printed n lines and returns them; it fails
// the test when homectl exits first or takes too long.
func (b *background) lines(n int) []string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := b.out.String()
		if lines := strings.SplitAfter(out, "\n"); strings.Count(out, "\n") >= n {
			return lines[:n]
		}
		select {
		case code := <-b.code:
			b.code <- code
			b.t.Fatalf("homectl exited %d after printing %q (stderr %q)", code, out, b.errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("homectl printed %q, want %d lines (stderr %q)", out, n, b.errOut.String())
		}
	}
}

// interrupt stops homectl as Ctrl-C does and returns its exit code.
func (b *background) interrupt() int {
	b.t.Helper()
	b.stop()
	select {
	case code := <-b.code:
		b.code <- code
		return code
	case <-time.After(10 * time.Second):
		b.t.Fatal("homectl did not stop on interrupt")
		return 0
	}
}

// timerHome registers a user with one home and a voice device in it.
func timerHome(t testing.TB, c *cli) (homeID, deviceID, deviceToken string) {
	t.Helper()
	c.signup("hal@example.com", "hal-password")
	var created struct{ Home struct{ ID string } }
	decode(t, c.ok("homes", "create", "Cabin", "--json"), &created)
	deviceToken = strings.TrimSpace(c.ok("devices", "add", "--name", "Kitchen satellite", "--area", "kitchen"))
	var devs struct{ Devices []struct{ ID string } }
	decode(t, c.ok("devices", "--json"), &devs)
	if len(devs.Devices) != 1 {
		t.Fatalf("devices: %+v", devs)
	}
	return created.Home.ID, devs.Devices[0].ID, deviceToken
}

func startTimer(t testing.TB, c *cli, owner timer.Owner, name string, d time.Duration) {
	t.Helper()
	if _, err := c.timers.Start(timer.Timer{Owner: owner, Name: name, Area: "kitchen", Start: d}); err != nil {
		t.Fatal(err)
	}
}

func TestTimersWatchAsDevice(t *testing.T) {
	c := newCLI(t)
	homeID, deviceID, token := timerHome(t, c)
	mine := timer.Owner{HomeID: homeID, DeviceID: deviceID}
	startTimer(t, c, mine, "pizza", 10*time.Minute)

	// The device token alone: no login needed.
	c.env[envConfigDir] = t.TempDir()
	c.env[envDeviceToken] = token
	w := c.start("timers", "watch")
	// Each step waits for its line: central words the time left as it sends.
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "updated   pizza: 10m0s left of 10m0s, in kitchen"},
		{func() { startTimer(t, c, mine, "tea", 3*time.Minute) }, "started   tea: 3m0s left of 3m0s, in kitchen"},
		{func() { c.clock.advance(3 * time.Minute) }, "finished  tea: 0s left of 3m0s, in kitchen"},
		{func() {
			// Not this device's: never shown.
			startTimer(t, c, timer.Owner{HomeID: homeID, DeviceID: intent.UserTimerOwner("someone")}, "eggs", time.Minute)
			if _, err := c.timers.Cancel(mine, timer.Selector{Name: "pizza"}); err != nil {
				t.Fatal(err)
			}
		}, "cancelled pizza: 7m0s left of 10m0s, in kitchen"},
	}
	for i, step := range steps {
		step.do()
		got := w.lines(i + 1)[i]
		// Each line starts with the local time it arrived.
		if _, err := time.Parse(time.TimeOnly, strings.Fields(got)[0]); err != nil || !strings.HasSuffix(got, step.want+"\n") {
			t.Errorf("line %d = %q, want HH:MM:SS %q", i, got, step.want)
		}
	}
	if code := w.interrupt(); code != exitOK {
		t.Errorf("interrupted watch exited %d, stderr %q", code, w.errOut.String())
	}
	if out := w.out.String(); strings.Count(out, "\n") != len(steps) || strings.Contains(out, "eggs") {
		t.Errorf("watch printed more than its device's events:\n%s", out)
	}

	c.env[envDeviceToken] = "hpd_nonsense"
	c.fails(exitError, "unauthenticated", "timers", "watch")
}

// timerEventJSON is a WatchTimersResponse as --json prints it.
type timerEventJSON struct {
	Kind  string `json:"kind"`
	Timer struct {
		Name             string `json:"name"`
		RemainingSeconds string `json:"remaining_seconds"` // int64: a string in proto JSON
	} `json:"timer"`
}

func TestTimersWatchJSONAsUser(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(c *cli, cr *credentials)
	}{
		{"valid session", func(*cli, *credentials) {}},
		{"rejected access token", func(c *cli, cr *credentials) { c.accounts.Expire(cr.AccessToken) }},
		{"expired by the clock", func(_ *cli, cr *credentials) { cr.AccessExpiresAt = time.Now().Add(-time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			homeID, _, _ := timerHome(t, c)
			before, err := c.store.load()
			if err != nil {
				t.Fatal(err)
			}
			mine := timer.Owner{HomeID: homeID, DeviceID: intent.UserTimerOwner(before.UserID)}
			startTimer(t, c, mine, "eggs", 5*time.Minute)
			tt.spoil(c, &before)
			if err := c.store.save(before); err != nil {
				t.Fatal(err)
			}

			// --home, so the stream is the first call and must refresh itself.
			w := c.start("timers", "watch", "--json", "--home", homeID)
			w.lines(1)
			startTimer(t, c, mine, "bread", 40*time.Minute)
			var events []timerEventJSON
			for _, line := range w.lines(2) {
				var ev timerEventJSON
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("line %q is not one JSON object: %v", line, err)
				}
				events = append(events, ev)
			}
			if e := events[0]; e.Kind != "KIND_UPDATED" || e.Timer.Name != "eggs" || e.Timer.RemainingSeconds != "300" {
				t.Errorf("first event %+v", e)
			}
			if e := events[1]; e.Kind != "KIND_STARTED" || e.Timer.Name != "bread" || e.Timer.RemainingSeconds != "2400" {
				t.Errorf("second event %+v", e)
			}
			if code := w.interrupt(); code != exitOK {
				t.Errorf("exit %d, stderr %q", code, w.errOut.String())
			}
			after, err := c.store.load()
			if err != nil {
				t.Fatal(err)
			}
			if refreshed := after.AccessToken != before.AccessToken; refreshed != (tt.name != "valid session") {
				t.Errorf("access token refreshed: %v", refreshed)
			}
		})
	}
}

// The stream outlives the request timeout that bounds other commands.
func TestTimersWatchOutlivesRequestTimeout(t *testing.T) {
	c := newCLI(t)
	homeID, deviceID, token := timerHome(t, c)
	mine := timer.Owner{HomeID: homeID, DeviceID: deviceID}
	c.env[envDeviceToken] = token
	c.timeout = 300 * time.Millisecond

	w := c.start("timers", "watch")
	startTimer(t, c, mine, "first", time.Minute)
	w.lines(1)
	<-time.After(3 * c.timeout) // past the timeout: nothing is due, only time must pass
	startTimer(t, c, mine, "second", time.Minute)
	if got := w.lines(2)[1]; !strings.Contains(got, "started   second") {
		t.Errorf("second line %q", got)
	}
	if code := w.interrupt(); code != exitOK {
		t.Errorf("exit %d, stderr %q", code, w.errOut.String())
	}
}
