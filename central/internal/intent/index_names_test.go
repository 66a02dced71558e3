package intent_test

import (
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestIndexNamesEachThingOnce checks that a name an entity carries twice
// (as its name and as an alias, in other cases and spellings) lists the
// entity once, under both ways of saying its number, and that a name of
// many words is found whole.
func TestIndexNamesEachThingOnce(t *testing.T) {
	reg := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.lamp_2", Name: "Lamp 2", Aliases: []string{"lamp two", "LAMP 2", "big reading lamp by the window"}, Domain: "light"},
		{EntityId: "light.lamp_3", Name: "Lamp 3", Domain: "light"},
	}, []*homeplanev1.Area{{Id: "hall", Name: "Hall", Aliases: []string{"hall"}}}, nil)
	for _, name := range []string{"lamp 2", "lamp two", "Lamp Two"} {
		if got := reg.EntitiesNamed(name); len(got) != 1 || reg.Entity(got[0]).GetEntityId() != "light.lamp_2" {
			t.Errorf("EntitiesNamed(%q) = %v, want light.lamp_2 once", name, got)
		}
	}
	n, refs := reg.Match([]string{"lamp", "two"}, 0)
	if n != 2 || len(refs) != 1 || refs[0].Kind != intent.RefEntity || refs[0].Index != 0 {
		t.Errorf("Match(lamp two) = %d, %+v", n, refs)
	}
	if n, refs := reg.Match([]string{"hall"}, 0); n != 1 || len(refs) != 1 || refs[0].Kind != intent.RefArea {
		t.Errorf("Match(hall) = %d, %+v, want the area once", n, refs)
	}
	long := []string{"big", "reading", "lamp", "by", "the", "window"}
	if n, refs := reg.Match(long, 0); n != len(long) || len(refs) != 1 {
		t.Errorf("Match(%v) = %d, %+v", long, n, refs)
	}
}
