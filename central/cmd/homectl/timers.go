package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// timers runs "timers watch". Like say, it acts as a voice device when
// given its token, else as the logged-in user for the chosen home.
func (a *app) timers(ctx context.Context, args []string) error {
	fs := a.flags("timers")
	homeID := homeFlag(fs)
	deviceToken := fs.String("device-token", "", "watch the timers of the voice device with this token (default $"+envDeviceToken+")")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("timers needs a command (watch)")
	case pos[0] != "watch":
		return usagef("unknown timers command %q (watch)", pos[0])
	case len(pos) > 1:
		return usagef("timers watch takes no arguments")
	}
	if *deviceToken == "" {
		*deviceToken = a.env.Getenv(envDeviceToken)
	}
	w, err := a.timerWatch(ctx, *homeID, *deviceToken)
	if err != nil {
		return err
	}
	return a.watchTimers(ctx, w)
}

// timerWatch is one watch to open: the client, the request, and the
// session to refresh when central refuses its token (nil for a device).
type timerWatch struct {
	client  homeplanev1connect.IntentServiceClient
	req     *homeplanev1.WatchTimersRequest
	session *session
}

// timerWatch prepares a watch. The clients have no timeout, since the
// stream runs until stopped; the calls made before it are bounded as usual.
func (a *app) timerWatch(ctx context.Context, homeID, deviceToken string) (timerWatch, error) {
	hc := a.untimedHTTP()
	if deviceToken != "" {
		base, err := a.baseURL()
		if err != nil {
			return timerWatch{}, err
		}
		client := homeplanev1connect.NewIntentServiceClient(hc, base, connect.WithInterceptors(bearer(deviceToken)))
		return timerWatch{client: client, req: &homeplanev1.WatchTimersRequest{}}, nil
	}
	c, err := a.userClientsOver(hc)
	if err != nil {
		return timerWatch{}, err
	}
	setup, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	home, err := a.resolveHome(setup, c.home, homeID)
	if err != nil {
		return timerWatch{}, err
	}
	if _, err := c.session.freshen(setup); err != nil {
		return timerWatch{}, err
	}
	return timerWatch{client: c.intent, req: &homeplanev1.WatchTimersRequest{HomeId: home}, session: c.session}, nil
}

// watchTimers prints the watch's events until central ends the stream or
// ctx is cancelled (Ctrl-C), which is the usual way to stop and no error.
func (a *app) watchTimers(ctx context.Context, w timerWatch) error {
	stream, err := w.client.WatchTimers(ctx, connect.NewRequest(w.req))
	if err != nil {
		return err
	}
	got := stream.Receive()
	if !got && w.session != nil && connect.CodeOf(stream.Err()) == connect.CodeUnauthenticated {
		// Refused before anything was watched: refresh once and watch
		// again, as the session does for a unary call.
		_ = stream.Close()
		if err := a.refreshSession(ctx, w.session); err != nil {
			return err
		}
		if stream, err = w.client.WatchTimers(ctx, connect.NewRequest(w.req)); err != nil {
			return err
		}
		got = stream.Receive()
	}
	defer stream.Close()
	for ; got; got = stream.Receive() {
		if err := a.printTimerEvent(stream.Msg()); err != nil {
			return err
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return stream.Err()
}

// refreshSession refreshes s within the usual request timeout.
func (a *app) refreshSession(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return s.refresh(ctx)
}

func (a *app) printTimerEvent(ev *homeplanev1.WatchTimersResponse) error {
	if a.json {
		return printJSONLine(a.env.Stdout, ev)
	}
	_, err := fmt.Fprintln(a.env.Stdout, timerLine(ev, time.Now()))
	return err
}

// timerLine words one event: when it arrived, what happened, to which
// timer, and the time left.
func timerLine(ev *homeplanev1.WatchTimersResponse, now time.Time) string {
	t := ev.GetTimer()
	name := t.GetName()
	if name == "" {
		name = "timer " + t.GetId()
	}
	kind := strings.ToLower(strings.TrimPrefix(ev.GetKind().String(), "KIND_"))
	line := fmt.Sprintf("%s %-9s %s: %s left of %s", now.Format(time.TimeOnly), kind, name,
		seconds(t.GetRemainingSeconds()), seconds(t.GetStartSeconds()))
	if t.GetArea() != "" {
		line += ", in " + t.GetArea()
	}
	if t.GetPaused() {
		line += ", paused"
	}
	if t.GetCommand() != "" {
		line += fmt.Sprintf(", then %q", t.GetCommand())
	}
	return line
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }
