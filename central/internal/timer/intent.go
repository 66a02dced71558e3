package timer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var _ intent.Timers = (*Manager)(nil)

// Handle carries out a timer intent for the device or user that spoke it
// and words the answer the way Home Assistant does; on failure the speech
// says what went wrong.
func (m *Manager) Handle(req intent.TimerRequest, in intent.Intent) (string, error) {
	speech, err := m.handle(req, in)
	if err != nil {
		return Speech(err), err
	}
	return speech, nil
}

func (m *Manager) handle(req intent.TimerRequest, in intent.Intent) (string, error) {
	owner := Owner{HomeID: req.HomeID, DeviceID: req.Owner}
	sel := Selector{Name: strings.TrimSpace(in.Slot("name")), Area: in.Slot("area"), Start: slotDuration(in, "start_")}
	named := ""
	if sel.Name != "" {
		named = " named " + sel.Name
	}
	switch in.Name {
	case intent.StartTimer:
		d := slotDuration(in, "")
		t, err := m.Start(Timer{Owner: owner, Name: sel.Name, Area: req.Area, Start: d, Command: strings.TrimSpace(in.Slot("conversation_command"))})
		if err != nil {
			return "", err
		}
		if t.Command != "" {
			return "Command will be executed in " + Spoken(d), nil
		}
		return "Timer set for " + Spoken(d) + named, nil
	case intent.CancelTimer:
		if _, err := m.Cancel(owner, sel); err != nil {
			return "", err
		}
		return "Timer cancelled", nil
	case intent.CancelAllTimers:
		n, err := m.CancelAll(owner, Selector{Area: sel.Area})
		if err != nil {
			return "", err
		}
		where := ""
		if sel.Area != "" {
			where = " in " + sel.Area
		}
		return fmt.Sprintf("Cancelled %d %s%s", n, plural(n, "timer", "timers"), where), nil
	case intent.PauseTimer:
		if _, err := m.Pause(owner, sel); err != nil {
			return "", err
		}
		return "Timer paused", nil
	case intent.UnpauseTimer:
		if _, err := m.Resume(owner, sel); err != nil {
			return "", err
		}
		return "Timer resumed", nil
	case intent.IncreaseTimer, intent.DecreaseTimer:
		d := slotDuration(in, "")
		if d <= 0 {
			return "", ErrNotFound
		}
		delta, word := d, " added to timer"
		if in.Name == intent.DecreaseTimer {
			delta, word = -d, " removed from timer"
		}
		if _, err := m.Add(owner, sel, delta); err != nil {
			return "", err
		}
		return Spoken(d) + word + named, nil
	case intent.TimerStatus:
		found := m.Find(owner, sel)
		now := m.opts.Clock.Now()
		switch len(found) {
		case 0:
			return "", ErrNotFound
		case 1:
			t := found[0]
			s := Spoken(t.Remaining(now).Round(time.Second)) + " left."
			if t.Paused {
				s = "Timer is paused. " + s
			}
			return s, nil
		}
		return fmt.Sprintf("%d timers. The next one has %s left.", len(found), Spoken(found[0].Remaining(now).Round(time.Second))), nil
	}
	return "", fmt.Errorf("timer intent %s: %w", in.Name, ErrNotFound)
}

// Speech words a timer failure for the person who asked.
func Speech(err error) string {
	switch {
	case errors.Is(err, ErrAmbiguous):
		return "Sorry, you have several timers. Which one do you mean?"
	case errors.Is(err, ErrLimit):
		return "Sorry, I can't set that timer"
	case errors.Is(err, ErrStore):
		return "Sorry, I couldn't change your timers right now"
	}
	return "Sorry, I couldn't find that timer"
}

func slotDuration(in intent.Intent, prefix string) time.Duration {
	var d time.Duration
	for _, u := range []struct {
		slot string
		unit time.Duration
	}{{"hours", time.Hour}, {"minutes", time.Minute}, {"seconds", time.Second}} {
		if v, ok := in.Number(prefix + u.slot); ok && v > 0 && v < 1e6 {
			d += time.Duration(v * float64(u.unit))
		}
	}
	return d
}

// Spoken words a duration: "1 hour, 15 minutes and 30 seconds".
func Spoken(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", h, plural(h, "hour", "hours")))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", m, plural(m, "minute", "minutes")))
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d %s", s, plural(s, "second", "seconds")))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func normalizeName(s string) string {
	return intent.Normalize(s)
}
