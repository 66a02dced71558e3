package command

import (
	"context"
	"fmt"
	"strings"
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestDomainAllowList is row 14 of the attack suite for service calls: a
// compromised central sends calls outside the domains the home allows; the
// whole command is refused with CodeForbidden and Home Assistant is never
// called, not even for the allowed calls before the refused one.
func TestDomainAllowList(t *testing.T) {
	cases := []struct {
		name    string
		allowed []string
		calls   []string // domain.service=entity
		code    homeplanev1.CommandError
	}{
		{"no list allows every domain", nil, []string{"lock.unlock=lock.front_door"}, 0},
		{"allowed domain", []string{"light", "switch"}, []string{"light.turn_on=light.kitchen"}, 0},
		{"refused service domain", []string{"light"}, []string{"lock.unlock=lock.front_door"}, CodeForbidden},
		{"refused after an allowed call", []string{"light"}, []string{"light.turn_on=light.kitchen", "shell_command.run="}, CodeForbidden},
		{"target outside the list", []string{"light", "homeassistant"}, []string{"homeassistant.turn_on=lock.front_door"}, CodeForbidden},
		{"invalid stays invalid", []string{"light"}, []string{"Light.turn_on=light.kitchen"}, CodeInvalid},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ha := &fakeHA{}
			s := NewServices(ha, ServicesOptions{AllowedDomains: c.allowed})
			res := s.Execute(context.Background(), command(fmt.Sprintf("c%d", i), parseCalls(c.calls)...))
			if res.GetCode() != c.code {
				t.Fatalf("code = %v (%s), want %v", res.GetCode(), res.GetError(), c.code)
			}
			if c.code != 0 && ha.callCount() != 0 {
				t.Fatalf("Home Assistant called %d times for a refused command", ha.callCount())
			}
		})
	}
}

func parseCalls(in []string) []*homeplanev1.ServiceCall {
	out := make([]*homeplanev1.ServiceCall, 0, len(in))
	for _, s := range in {
		ds, entity, _ := strings.Cut(s, "=")
		domain, service, _ := strings.Cut(ds, ".")
		var ids []string
		if entity != "" {
			ids = []string{entity}
		}
		out = append(out, sc(domain, service, ids...))
	}
	return out
}
