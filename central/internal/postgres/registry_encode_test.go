package postgres

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// realisticSnapshot is a 100-entity home as Home Assistant reports one:
// lights, sensors, climate and media with the attributes they carry.
func realisticSnapshot(tb testing.TB) *registry.Snapshot {
	tb.Helper()
	at := time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC)
	snap := &registry.Snapshot{SyncedAt: at}
	for i := range 4 {
		snap.Floors = append(snap.Floors, &homeplanev1.Floor{
			Id: fmt.Sprintf("floor_%d", i), Name: fmt.Sprintf("Floor %d", i), Level: int32(i - 1),
			Aliases: []string{fmt.Sprintf("level %d", i)},
		})
	}
	for i := range 12 {
		snap.Areas = append(snap.Areas, &homeplanev1.Area{
			Id: fmt.Sprintf("area_%02d", i), Name: fmt.Sprintf("Room %d", i),
			Aliases: []string{fmt.Sprintf("the room %d", i)}, FloorId: fmt.Sprintf("floor_%d", i%4),
		})
	}
	kinds := []struct {
		domain, class, state string
		attrs                map[string]any
	}{
		{"light", "", "on", map[string]any{
			"brightness": 180.0, "color_mode": "color_temp", "color_temp_kelvin": 2700.0,
			"supported_color_modes": []any{"color_temp", "hs"}, "hs_color": []any{30.5, 60.25},
			"min_color_temp_kelvin": 2000.0, "max_color_temp_kelvin": 6500.0, "supported_features": 44.0,
			"friendly_name": "Lamp", "icon": "mdi:lamp",
		}},
		{"sensor", "temperature", "21.4", map[string]any{
			"unit_of_measurement": "°C", "state_class": "measurement", "device_class": "temperature",
			"friendly_name": "Temperature \"north\" wall",
		}},
		{"climate", "", "heat", map[string]any{
			"current_temperature": 20.5, "temperature": 21.0, "hvac_modes": []any{"off", "heat", "auto"},
			"min_temp": 7.0, "max_temp": 35.0, "preset_mode": nil, "friendly_name": "Thermostat",
			"target_temp_step": 0.5,
		}},
		{"media_player", "speaker", "playing", map[string]any{
			"volume_level": 0.35, "is_volume_muted": false, "media_title": "Ça plane pour moi",
			"media_artist": "Plastic Bertrand", "source_list": []any{"Radio", "Spotify", "TV"},
			"group_members": []any{"media_player.kitchen", "media_player.living_room"},
			"extra":         map[string]any{"nested": map[string]any{"depth": 2.0, "ok": true}},
		}},
		{"binary_sensor", "motion", "off", map[string]any{"device_class": "motion", "friendly_name": "Motion"}},
	}
	for i := range 100 {
		k := kinds[i%len(kinds)]
		attrs, err := structpb.NewStruct(k.attrs)
		if err != nil {
			tb.Fatal(err)
		}
		id := fmt.Sprintf("%s.thing_%03d", k.domain, i)
		snap.Entities = append(snap.Entities, &homeplanev1.Entity{
			EntityId: id, Name: fmt.Sprintf("Thing %d", i), Aliases: []string{fmt.Sprintf("thing number %d", i)},
			Domain: k.domain, DeviceClass: k.class, AreaId: fmt.Sprintf("area_%02d", i%12), State: k.state,
			Attributes: attrs, LastChanged: timestamppb.New(at.Add(-time.Duration(i) * time.Minute)),
		})
	}
	return snap
}

func BenchmarkEncodeSnapshot(b *testing.B) {
	snap := realisticSnapshot(b)
	doc, err := encodeSnapshot(snap)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeSnapshot(snap); err != nil {
			b.Fatal(err)
		}
	}
}
