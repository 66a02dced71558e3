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
