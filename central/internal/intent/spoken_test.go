package intent

import (
	"strings"
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestMatchNumberSaidEitherWay(t *testing.T) {
	reg := NewIndex(
		[]*homeplanev1.Entity{
			{EntityId: "light.hue_go_2", Name: "Hue Go 2", Domain: "light"},
			{EntityId: "media_player.sonos_one", Name: "Sonos One", Domain: "media_player"},
		},
		[]*homeplanev1.Area{{Id: "bedroom_2", Name: "Bedroom 2"}},
		[]*homeplanev1.Floor{{Id: "level_1", Name: "Level 1"}},
	)
	for _, tc := range []struct {
		name, said, want string
		kind             RefKind
	}{
		{"digit name said in words", "hue go two", "Hue Go 2", RefEntity},
		{"digit name said in digits", "hue go 2", "Hue Go 2", RefEntity},
		{"word name said in digits", "sonos 1", "Sonos One", RefEntity},
		{"area", "bedroom two", "Bedroom 2", RefArea},
		{"floor", "level one", "Level 1", RefFloor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks := strings.Fields(tc.said)
			n, refs := reg.Match(toks, 0)
			if n != len(toks) || len(refs) != 1 || refs[0].Name != tc.want || refs[0].Kind != tc.kind {
				t.Fatalf("Match(%q) = %d %+v, want all tokens naming %q", tc.said, n, refs, tc.want)
			}
		})
	}
	if _, ok := reg.AreaByName("Bedroom two"); !ok {
		t.Error(`AreaByName("Bedroom two") found nothing`)
	}
	if got := reg.EntitiesNamed("hue go two"); len(got) != 1 {
		t.Errorf(`EntitiesNamed("hue go two") = %v, want one entity`, got)
	}
}

// TestExactNameOutranksVariant: a name said as written finds that name
// only, whichever entity comes first, though another name heard split or
// joined makes the same words; the variants still find names nothing else
// is called.
func TestExactNameOutranksVariant(t *testing.T) {
	headlight := &homeplanev1.Entity{EntityId: "light.headlight", Name: "Headlight", Domain: "light"}
	headLight := &homeplanev1.Entity{EntityId: "light.head_light", Name: "Head Light", Domain: "light"}
	upLighter := &homeplanev1.Entity{EntityId: "light.up_lighter", Name: "Up Lighter", Domain: "light"}
	for _, order := range [][]*homeplanev1.Entity{{headlight, headLight, upLighter}, {headLight, headlight, upLighter}} {
		reg := NewIndex(order, nil, nil)
		for said, want := range map[string]string{"head light": "Head Light", "headlight": "Headlight", "uplighter": "Up Lighter", "up lighter": "Up Lighter"} {
			toks := strings.Fields(said)
			n, refs := reg.Match(toks, 0)
			if n != len(toks) || len(refs) != 1 || refs[0].Name != want {
				t.Errorf("first %s: Match(%q) = %d %+v, want only %q", order[0].GetName(), said, n, refs, want)
			}
		}
	}
}

// TestMatchNumber finds a name said with its last word in the other
// number, and no one-word name.
func TestMatchNumber(t *testing.T) {
	reg := NewIndex([]*homeplanev1.Entity{
		{EntityId: "lock.back_doors", Name: "Back Doors", Domain: "lock"},
		{EntityId: "light.port", Name: "Port Light", Domain: "light"},
		{EntityId: "light.lamp", Name: "Lamp", Domain: "light"},
	}, nil, nil)
	for said, want := range map[string]string{"back door": "Back Doors", "port lights": "Port Light", "lamps": ""} {
		toks := strings.Fields(said)
		n, refs := reg.MatchNumber(toks, 0)
		switch {
		case want == "" && n != 0:
			t.Errorf("MatchNumber(%q) = %d %+v, want nothing", said, n, refs)
		case want != "" && (n != len(toks) || len(refs) != 1 || refs[0].Name != want):
			t.Errorf("MatchNumber(%q) = %d %+v, want %q", said, n, refs, want)
		}
	}
}
