package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func smallHome(tb testing.TB) *intent.Index {
	tb.Helper()
	return intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.kitchen_ceiling", Name: "Kitchen ceiling", Domain: "light", AreaId: "kitchen"},
		{EntityId: "light.reading", Name: "Reading Lamp", Aliases: []string{"Book light"}, Domain: "light", AreaId: "study"},
		{EntityId: "lock.front", Name: "Front Door", Domain: "lock", AreaId: "hall"},
		{EntityId: "cover.study_blind", Name: "Study Blind", Domain: "cover", DeviceClass: "blind", AreaId: "study"},
		{EntityId: "media_player.radio", Name: "Radio", Domain: "media_player", AreaId: "kitchen"},
		{EntityId: "sensor.study_temperature", Name: "Study Temperature", Domain: "sensor", DeviceClass: "temperature", AreaId: "study"},
		{EntityId: "person.ada", Name: "Ada", Domain: "person"},
	}, []*homeplanev1.Area{
		{Id: "kitchen", Name: "Kitchen", FloorId: "ground"},
		{Id: "study", Name: "Study", Aliases: []string{"Office"}, FloorId: "upper"},
		{Id: "hall", Name: "Hall", FloorId: "ground"},
	}, []*homeplanev1.Floor{{Id: "ground", Name: "Ground Floor"}, {Id: "upper", Name: "Upstairs"}})
}

// TestParsePhrasings checks sentences worded unlike the evaluation set.
func TestParsePhrasings(t *testing.T) {
	reg := smallHome(t)
	p := New(Options{})
	tests := []struct {
		name, text, area string
		want             intent.Name
		slots            map[string]any
	}{
		{"alias", "Please switch the book light on.", "", "HassTurnOn", map[string]any{"name": "Book light"}},
		{"area alias", "turn off the lights in the office", "", "HassTurnOff", map[string]any{"domain": "light", "area": "Study"}},
		{"here", "switch on the lights in here", "Kitchen", "HassTurnOn", map[string]any{"domain": "light", "area": "Kitchen"}},
		{"floor", "turn off every light upstairs", "", "HassTurnOff", map[string]any{"domain": "light", "floor": "Upstairs"}},
		{"lock", "could you lock the front door", "", "HassTurnOn", map[string]any{"name": "Front Door"}},
		{"blind", "close the study blind", "", "HassTurnOff", map[string]any{"name": "Study Blind"}},
		{"brightness words", "dim the reading lamp to thirty percent", "", "HassLightSet", map[string]any{"name": "Reading Lamp", "brightness": 30}},
		{"color", "make the kitchen blue", "", "HassLightSet", map[string]any{"area": "Kitchen", "color": "blue"}},
		{"climate words", "set the temperature to twenty point five degrees", "Hall", "HassClimateSetTemperature", map[string]any{"temperature": 20.5, "area": "Hall"}},
		{"question", "is the front door unlocked", "", "HassGetState", map[string]any{"name": "Front Door", "domain": "lock", "state": "unlocked"}},
		{"count", "how many lights are off in the kitchen", "", "HassGetState", map[string]any{"domain": "light", "area": "Kitchen", "state": "off"}},
		{"timer words", "set a timer for ten minutes", "", "HassStartTimer", map[string]any{"minutes": 10}},
		{"media", "next song on the radio", "", "HassMediaNext", map[string]any{"name": "Radio"}},
		{"list", "put milk on my shopping list", "", "HassShoppingListAddItem", map[string]any{"item": "milk"}},
		{"time", "what time is it", "", "HassGetCurrentTime", map[string]any{}},
		{"power verb", "fire up the reading lamp", "", "HassTurnOn", map[string]any{"name": "Reading Lamp"}},
		{"flip with particle", "flip the reading lamp off", "", "HassTurnOff", map[string]any{"name": "Reading Lamp"}},
		{"bare flip", "flip the reading lamp", "", "HassToggle", map[string]any{"name": "Reading Lamp"}},
		{"whole home", "turn off all the lights in the condo", "", "HassTurnOff", map[string]any{"domain": "light"}},
		{"person", "is Ada home yet", "", "HassGetState", map[string]any{"domain": "person", "name": "Ada", "state": "home"}},
		{"sensor by name", "what's the study temperature", "", "HassGetState", map[string]any{"name": "Study Temperature"}},
		{"sensor and measure", "what is the temperature of the study temperature", "", "HassGetState",
			map[string]any{"name": "Study Temperature", "domain": "sensor", "device_class": "temperature"}},
		{"time added", "put 5 more minutes on the tea timer", "", "HassIncreaseTimer", map[string]any{"minutes": 5, "name": "tea"}},
		{"time taken", "knock 2 minutes off my timer", "", "HassDecreaseTimer", map[string]any{"minutes": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(context.Background(), tt.text, reg, intent.Context{Area: tt.area})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
				t.Errorf("Parse(%q) = %s %v, want %s %v", tt.text, got.Name, got.Slots, tt.want, tt.slots)
			}
		})
	}
}

// spokenHome has names that overlap common nouns: a sensor and a detector
// of one name, a light named after its room, a vacuum with an alias and a
// to-do list.
func spokenHome(tb testing.TB) *intent.Index {
	tb.Helper()
	return intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.garage", Name: "Garage Light", Domain: "light", AreaId: "garage"},
		{EntityId: "light.porch", Name: "Porch Lamp", Domain: "light", AreaId: "porch"},
		{EntityId: "lock.back", Name: "Back Door", Domain: "lock", AreaId: "porch"},
		{EntityId: "sensor.cellar", Name: "Cellar", Domain: "sensor", DeviceClass: "temperature", AreaId: "garage"},
		{EntityId: "sensor.meter", Name: "Meter", Domain: "sensor", DeviceClass: "power", AreaId: "garage"},
		{EntityId: "binary_sensor.bell_battery", Name: "Bell", Domain: "binary_sensor", DeviceClass: "battery", AreaId: "porch"},
		{EntityId: "sensor.bell_battery", Name: "Bell", Domain: "sensor", DeviceClass: "battery", AreaId: "porch"},
		{EntityId: "binary_sensor.tablet_update", Name: "Tablet", Domain: "binary_sensor", DeviceClass: "update"},
		{EntityId: "vacuum.robbie", Name: "Robbie", Aliases: []string{"Dyson"}, Domain: "vacuum", AreaId: "garage"},
		{EntityId: "todo.jobs", Name: "Jobs", Domain: "todo"},
	}, []*homeplanev1.Area{{Id: "garage", Name: "Garage"}, {Id: "porch", Name: "Porch"}}, nil)
}

// TestParseSpokenForms checks contractions, indirect questions, measure
// words, brightness and duration fractions and informal verbs.
func TestParseSpokenForms(t *testing.T) {
	reg := spokenHome(t)
	p := New(Options{})
	tests := []struct {
		text  string
		want  intent.Name
		slots map[string]any
	}{
		{"do you know if the back door's locked", "HassGetState", map[string]any{"name": "Back Door", "domain": "lock", "state": "locked"}},
		{"can you check whether the garage light's on", "HassGetState", map[string]any{"name": "Garage Light", "state": "on"}},
		{"could you tell me if the porch lamp's off", "HassGetState", map[string]any{"name": "Porch Lamp", "state": "off"}},
		{"how cold is the cellar", "HassGetState", map[string]any{"name": "Cellar", "domain": "sensor", "device_class": "temperature"}},
		{"what's the power reading on the meter", "HassGetState", map[string]any{"name": "Meter", "domain": "sensor", "device_class": "power"}},
		{"what's the bell battery level", "HassGetState", map[string]any{"name": "Bell", "domain": "sensor", "device_class": "battery"}},
		{"how much battery has the bell got", "HassGetState", map[string]any{"name": "Bell", "domain": "sensor", "device_class": "battery"}},
		{"is the bell battery low", "HassGetState", map[string]any{"name": "Bell", "domain": "binary_sensor", "device_class": "battery", "state": "on"}},
		{"does the tablet have an update", "HassGetState", map[string]any{"name": "Tablet", "domain": "binary_sensor", "device_class": "update", "state": "on"}},
		{"set the porch lamp to half brightness", "HassLightSet", map[string]any{"name": "Porch Lamp", "brightness": 50}},
		{"porch lamp to three quarters brightness", "HassLightSet", map[string]any{"name": "Porch Lamp", "brightness": 75}},
		{"porch lamp to the lowest", "HassLightSet", map[string]any{"name": "Porch Lamp", "brightness": 1}},
		{"turn the porch lamp all the way up", "HassLightSet", map[string]any{"name": "Porch Lamp", "brightness": 100}},
		{"turn the porch lamp all the way down", "HassLightSet", map[string]any{"name": "Porch Lamp", "brightness": 1}},
		{"turn the garage lights down to 30 percent", "HassLightSet", map[string]any{"area": "Garage", "brightness": 30}},
		{"turn the garage light down to 30 percent", "HassLightSet", map[string]any{"name": "Garage Light", "brightness": 30}},
		{"set a timer for an hour and a half", "HassStartTimer", map[string]any{"hours": 1, "minutes": 30}},
		{"set a timer for a minute and a half", "HassStartTimer", map[string]any{"minutes": 1, "seconds": 30}},
		{"set a timer for one and a half hours", "HassStartTimer", map[string]any{"hours": 1, "minutes": 30}},
		{"pop oat milk on the shopping list", "HassShoppingListAddItem", map[string]any{"item": "oat milk"}},
		{"add clean the gutters to my jobs", "HassListAddItem", map[string]any{"item": "clean the gutters", "name": "Jobs"}},
		{"never mind, sorry", "HassNevermind", map[string]any{}},
		{"cancel that, thanks", "HassNevermind", map[string]any{}},
		{"get the dyson going", "HassVacuumStart", map[string]any{"name": "Dyson"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := p.Parse(context.Background(), tt.text, reg, intent.Context{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
				t.Errorf("Parse(%q) = %s %v, want %s %v", tt.text, got.Name, got.Slots, tt.want, tt.slots)
			}
		})
	}
}

func TestParseNoIntent(t *testing.T) {
	reg := smallHome(t)
	p := New(Options{})
	for _, text := range []string{"", "   ", "banana", "the", strings.Repeat("lights ", 500)} {
		if got, err := p.Parse(context.Background(), text, reg, intent.Context{}); err == nil {
			t.Errorf("Parse(%q) = %v, want ErrNoIntent", text, got)
		}
	}
}

func bigHome(tb testing.TB, n int) *intent.Index {
	tb.Helper()
	rooms := []string{"Kitchen", "Living Room", "Bedroom", "Office", "Garage", "Hall", "Bathroom", "Attic", "Cellar", "Porch"}
	var areas []*homeplanev1.Area
	for i := 0; i < 50; i++ {
		areas = append(areas, &homeplanev1.Area{Id: fmt.Sprintf("a%d", i), Name: fmt.Sprintf("%s %d", rooms[i%len(rooms)], i/len(rooms)+1)})
	}
	areas = append(areas, &homeplanev1.Area{Id: "kitchen", Name: "Kitchen"})
	domains := []string{"light", "switch", "fan", "cover", "lock", "sensor", "binary_sensor", "media_player"}
	var ents []*homeplanev1.Entity
	for i := 0; i < n; i++ {
		d := domains[i%len(domains)]
		ents = append(ents, &homeplanev1.Entity{
			EntityId: fmt.Sprintf("%s.device_%d", d, i), Name: fmt.Sprintf("Device %d %s", i, d),
			Domain: d, AreaId: areas[i%len(areas)].GetId(), State: "off",
		})
	}
	return intent.NewIndex(ents, areas, nil)
}

func BenchmarkParse(b *testing.B) {
	reg := bigHome(b, 1000)
	p := New(Options{})
	sentences := []string{
		"turn on the kitchen lights",
		"please switch off device 18 fan",
		"set the bedroom 1 lights to 40 percent",
		"are any lights on in the living room 2",
		"what is the temperature in here",
		"start a 5 minute timer",
	}
	ctx := context.Background()
	pc := intent.Context{Area: "Kitchen"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Parse(ctx, sentences[i%len(sentences)], reg, pc); err != nil {
			b.Fatalf("%q: %v", sentences[i%len(sentences)], err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
}

func FuzzParse(f *testing.F) {
	reg := smallHome(f)
	p := New(Options{MaxInputBytes: 64 << 10})
	for _, s := range []string{"turn on the kitchen lights", "in 5 minutes, open the garage door", "add x to my list",
		"play the track x on the radio", "twenty point five point", "timer for timer named", "check off off list list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		start := time.Now()
		_, _ = p.Parse(context.Background(), text, reg, intent.Context{Area: "Kitchen"})
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Parse took %v on %d bytes", d, len(text))
		}
	})
}

// TestFreeTextAsSpoken checks what the case-blind scoring cannot: titles
// and items keep the words as said.
func TestFreeTextAsSpoken(t *testing.T) {
	reg := loadHome(t, "bungalow_home.json")
	p := New(Options{})
	for _, tc := range []struct{ text, slot, want string }{
		{"play The Office", "search_query", "The Office"},
		{"play the beatles on the kitchen speaker", "search_query", "beatles"},
		{"play A Day in the Life", "search_query", "A Day in the Life"},
		{"add Oat Milk to my task list", "item", "Oat Milk"},
		// a message keeps who it is for and who is asleep
		{"broadcast dinner is ready for the kids", "message", "dinner is ready for the kids"},
		{"announce keep quiet she's asleep", "message", "keep quiet shes asleep"},
	} {
		got, err := p.Parse(context.Background(), tc.text, reg, intent.Context{Area: "Kitchen"})
		if err != nil || got.Slots[tc.slot] != tc.want {
			t.Errorf("%q: %s = %q (%v), want %q", tc.text, tc.slot, got.Slots[tc.slot], err, tc.want)
		}
	}
}
