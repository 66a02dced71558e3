package rules

import (
	"context"
	"maps"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestRoomSaidForItsDevice checks that "lock the shed" names the one lock
// the home calls Shed Lock, and that a room said otherwise, or a name that
// means two locks or a lock elsewhere, stays a place.
func TestRoomSaidForItsDevice(t *testing.T) {
	areas := []*homeplanev1.Area{{Id: "shed", Name: "Shed"}, {Id: "hall", Name: "Hall"}}
	one := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "lock.shed", Name: "Shed Lock", Domain: "lock", AreaId: "shed"},
		{EntityId: "lock.padlock", Name: "Padlock", Domain: "lock", AreaId: "shed"},
	}, areas, nil)
	two := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "lock.shed", Name: "Shed Lock", Domain: "lock", AreaId: "shed"},
		{EntityId: "lock.shed_2", Name: "Shed Lock", Domain: "lock", AreaId: "shed"},
	}, areas, nil)
	elsewhere := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "lock.shed", Name: "Shed Lock", Domain: "lock", AreaId: "hall"},
		{EntityId: "lock.padlock", Name: "Padlock", Domain: "lock", AreaId: "shed"},
	}, areas, nil)
	named := map[string]any{"name": "Shed Lock"}
	place := map[string]any{"area": "Shed", "domain": "lock"}
	for _, tc := range []struct {
		name, text string
		reg        *intent.Index
		want       map[string]any
	}{
		{"lock", "lock the shed", one, named},
		{"lock up", "lock up the shed", one, named},
		{"unlock", "unlock the shed", one, named},
		{"a place after a noun", "lock everything in the shed", one, place},
		{"two of the name", "lock the shed", two, place},
		{"the name elsewhere", "lock the shed", elsewhere, place},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(Options{}).Parse(context.Background(), tc.text, tc.reg, intent.Context{})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Slots, tc.want) {
				t.Fatalf("%q: %s %v, want %v", tc.text, got.Name, got.Slots, tc.want)
			}
		})
	}
}
