package intent

import (
	"slices"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Name is the name of an intent, spelled as Home Assistant spells it
// ("HassTurnOn"). A parser plugin may answer a name the catalogue does not
// know; the engine answers it as not supported.
type Name string

// The intents the engine knows, one row each in the catalogue.
const (
	TurnOn                Name = "HassTurnOn"
	TurnOff               Name = "HassTurnOff"
	Toggle                Name = "HassToggle"
	LightSet              Name = "HassLightSet"
	GetState              Name = "HassGetState"
	ClimateGetTemperature Name = "HassClimateGetTemperature"
	ClimateSetTemperature Name = "HassClimateSetTemperature"
	SetPosition           Name = "HassSetPosition"
	StopMoving            Name = "HassStopMoving"
	FanSetSpeed           Name = "HassFanSetSpeed"
	MediaPause            Name = "HassMediaPause"
	MediaUnpause          Name = "HassMediaUnpause"
	MediaNext             Name = "HassMediaNext"
	MediaPrevious         Name = "HassMediaPrevious"
	SetVolume             Name = "HassSetVolume"
	MediaSearchAndPlay    Name = "HassMediaSearchAndPlay"
	MediaPlayerMute       Name = "HassMediaPlayerMute"
	MediaPlayerUnmute     Name = "HassMediaPlayerUnmute"
	VacuumStart           Name = "HassVacuumStart"
	VacuumReturnToBase    Name = "HassVacuumReturnToBase"
	LawnMowerStartMowing  Name = "HassLawnMowerStartMowing"
	LawnMowerDock         Name = "HassLawnMowerDock"
	GetWeather            Name = "HassGetWeather"
	GetCurrentTime        Name = "HassGetCurrentTime"
	GetCurrentDate        Name = "HassGetCurrentDate"
	StartTimer            Name = "HassStartTimer"
	CancelTimer           Name = "HassCancelTimer"
	CancelAllTimers       Name = "HassCancelAllTimers"
	PauseTimer            Name = "HassPauseTimer"
	UnpauseTimer          Name = "HassUnpauseTimer"
	IncreaseTimer         Name = "HassIncreaseTimer"
	DecreaseTimer         Name = "HassDecreaseTimer"
	TimerStatus           Name = "HassTimerStatus"
	ShoppingListAddItem   Name = "HassShoppingListAddItem"
	ShoppingListComplete  Name = "HassShoppingListCompleteItem"
	ListAddItem           Name = "HassListAddItem"
	ListCompleteItem      Name = "HassListCompleteItem"
	Broadcast             Name = "HassBroadcast"
	Nevermind             Name = "HassNevermind"
	Respond               Name = "HassRespond"
)

// Kind says how the engine carries an intent out.
type Kind int

const (
	// KindUnsupported intents are understood but not carried out: the
	// engine answers that it cannot do that yet. Names the catalogue does
	// not know are of this kind.
	KindUnsupported Kind = iota
	// KindAction intents act on entities through Home Assistant services.
	KindAction
	// KindQuery intents ask about entities and are answered from the
	// registry's states.
	KindQuery
	// KindLocal intents are answered by central alone (the clock, small
	// talk).
	KindLocal
	// KindTimer intents go to the speaker's timers.
	KindTimer
)

func (k Kind) String() string {
	return [...]string{"unsupported", "action", "query", "local", "timer"}[k]
}

// Entry is one row of the catalogue: everything the engine needs to know
// about one intent.
type Entry struct {
	Name Name
	Kind Kind
	// Use says what the intent is for, in the words a language model is
	// given; empty when models are not offered the intent.
	Use string
	// Domains are the entity domains the intent can act on or ask about;
	// empty means any.
	Domains []string
	// Target says whether the intent acts on or asks about entities of the
	// home; timers, the clock and small talk do not.
	Target bool

	// list names the to-do list entity the intent is about instead of
	// resolving its slots.
	list bool
	// plan maps the intent on one entity to the service that carries it
	// out; ok is false when the entity cannot do it (KindAction).
	plan func(in Intent, e *homeplanev1.Entity) (c call, ok bool)
	// done words the answer to an executed action (KindAction).
	done func(reg *Index, in Intent, acted []int) string
	// answer words the answer to a question about the targets (KindQuery).
	answer func(reg *Index, in Intent, text string, targets []int) (string, *failure)
	// local words the answer to a KindLocal intent.
	local func(now time.Time, text string) string
}

// media is the domain of the media intents.
var media = []string{"media_player"}

// catalogue is every intent the engine knows, in the order models are told
// about them.
var catalogue = []Entry{
	{Name: TurnOn, Kind: KindAction, Use: "turn on, open, lock, activate a scene or script", Domains: switchable, plan: planTurn, done: doneTurn},
	{Name: TurnOff, Kind: KindAction, Use: "turn off, close, unlock", Domains: switchable, plan: planTurn, done: doneTurn},
	{Name: Toggle, Kind: KindAction, Use: "toggle", Domains: switchable, plan: planToggle, done: said("Toggled")},
	{Name: LightSet, Kind: KindAction, Use: "light brightness (0-100) or color", Domains: []string{"light"}, plan: planLightSet, done: doneLightSet},
	{Name: GetState, Kind: KindQuery, Use: "ask about states (is, are any, which, how many)", answer: answerState},
	{Name: ClimateGetTemperature, Kind: KindQuery, Use: "ask the temperature", Domains: []string{"climate", "sensor"}, answer: answerTemperature},
	{Name: ClimateSetTemperature, Kind: KindAction, Use: "set the temperature", Domains: []string{"climate"}, plan: planClimateSet, done: doneClimateSet},
	{Name: SetPosition, Kind: KindAction, Use: "set a cover or valve position (0-100)", Domains: []string{"cover", "valve"}, plan: planSetPosition, done: said("Position set")},
	{Name: StopMoving, Kind: KindAction, Use: "stop a cover or valve that is moving", Domains: []string{"cover", "valve"}, plan: planStopMoving, done: said("Stopped")},
	{Name: FanSetSpeed, Kind: KindAction, Use: "set a fan's speed (percentage 0-100)", Domains: []string{"fan"}, plan: planFanSpeed, done: said("Speed set")},
	{Name: MediaPause, Kind: KindAction, Use: "pause media", Domains: media, plan: planMedia("media_pause"), done: said("Paused")},
	{Name: MediaUnpause, Kind: KindAction, Use: "resume media", Domains: media, plan: planMedia("media_play"), done: said("Resumed")},
	{Name: MediaNext, Kind: KindAction, Use: "next track", Domains: media, plan: planMedia("media_next_track"), done: said("Playing next")},
	{Name: MediaPrevious, Kind: KindAction, Use: "previous track", Domains: media, plan: planMedia("media_previous_track"), done: said("Playing previous")},
	{Name: SetVolume, Kind: KindAction, Use: "set volume (0-100)", Domains: media, plan: planSetVolume, done: said("Volume set")},
	{Name: MediaSearchAndPlay, Kind: KindAction, Use: "play something (search_query, media_class)", Domains: media, plan: planSearchAndPlay, done: said("Playing media")},
	{Name: VacuumStart, Kind: KindAction, Use: "start vacuuming", Domains: []string{"vacuum"}, plan: planVacuum("start"), done: said("Started")},
	{Name: VacuumReturnToBase, Kind: KindAction, Use: "send the vacuum home", Domains: []string{"vacuum"}, plan: planVacuum("return_to_base"), done: said("Returning")},
	{Name: LawnMowerStartMowing, Kind: KindAction, Use: "start mowing", Domains: []string{"lawn_mower"}, plan: planMower("start_mowing"), done: said("Started mowing")},
	{Name: LawnMowerDock, Kind: KindAction, Use: "send the lawn mower to its dock", Domains: []string{"lawn_mower"}, plan: planMower("dock"), done: said("Returning")},
	{Name: GetWeather, Kind: KindQuery, Use: "weather", Domains: []string{"weather"}, answer: answerWeather},
	{Name: GetCurrentTime, Kind: KindLocal, Use: "time", local: func(now time.Time, _ string) string { return timeSpeech(now) }},
	{Name: GetCurrentDate, Kind: KindLocal, Use: "date", local: func(now time.Time, _ string) string { return dateSpeech(now) }},
	{Name: StartTimer, Kind: KindTimer, Use: "start a timer (hours, minutes, seconds, timer_name)"},
	{Name: CancelTimer, Kind: KindTimer, Use: "cancel a timer"},
	{Name: CancelAllTimers, Kind: KindTimer, Use: "cancel all timers"},
	{Name: PauseTimer, Kind: KindTimer, Use: "pause a timer"},
	{Name: UnpauseTimer, Kind: KindTimer, Use: "resume a timer"},
	{Name: IncreaseTimer, Kind: KindTimer, Use: "add time to a timer"},
	{Name: DecreaseTimer, Kind: KindTimer, Use: "remove time from a timer"},
	{Name: TimerStatus, Kind: KindTimer, Use: "time left on a timer"},
	{Name: ShoppingListAddItem, Kind: KindAction, Use: "add an item to the shopping list", list: true, plan: planListAdd, done: doneListAdd},
	{Name: ShoppingListComplete, Kind: KindAction, Use: "check an item off the shopping list", list: true, plan: planListComplete, done: doneListComplete},
	{Name: ListAddItem, Kind: KindAction, Use: "add an item to another to-do list (entity_ids: the list)", Domains: []string{"todo"}, plan: planListAdd, done: doneListAdd},
	{Name: ListCompleteItem, Kind: KindAction, Use: "check an item off another to-do list", Domains: []string{"todo"}, plan: planListComplete, done: doneListComplete},
	{Name: Broadcast, Kind: KindUnsupported, Use: "announce a message"},
	{Name: Nevermind, Kind: KindLocal, Use: "never mind", local: func(time.Time, string) string { return "" }},
	{Name: MediaPlayerMute, Kind: KindUnsupported, Target: true},
	{Name: MediaPlayerUnmute, Kind: KindUnsupported, Target: true},
	{Name: Respond, Kind: KindLocal, local: func(_ time.Time, text string) string { return respondSpeech(text) }},
}

// byName indexes the catalogue.
var byName = func() map[Name]*Entry {
	m := make(map[Name]*Entry, len(catalogue))
	for i := range catalogue {
		e := &catalogue[i]
		if e.Kind == KindAction || e.Kind == KindQuery {
			e.Target = true
		}
		m[e.Name] = e
	}
	return m
}()

// unknownEntry is the row of a name the catalogue does not know.
var unknownEntry = Entry{Kind: KindUnsupported, Target: true}

// Catalogue returns every intent the engine knows, in a fresh slice.
func Catalogue() []Entry { return slices.Clone(catalogue) }

// Lookup returns the catalogue's row of an intent; ok is false for a name
// it does not know.
func Lookup(n Name) (Entry, bool) {
	e, ok := byName[n]
	if !ok {
		return Entry{Name: n, Kind: unknownEntry.Kind, Target: unknownEntry.Target}, false
	}
	return *e, true
}

// entry is Lookup without the copy, for the engine's hot paths.
func entry(n Name) *Entry {
	if e, ok := byName[n]; ok {
		return e
	}
	return &unknownEntry
}

// NeedsTarget reports whether an intent acts on or asks about entities of
// the home; timers, the clock and small talk do not.
func NeedsTarget(n Name) bool { return entry(n).Target }

// switchable are the domains HassTurnOn/HassTurnOff can act on.
var switchable = []string{
	"light", "switch", "fan", "cover", "lock", "valve", "scene", "script",
	"media_player", "climate", "input_boolean", "automation", "humidifier",
	"siren", "vacuum", "water_heater", "remote", "group", "button", "input_button",
}

// said answers an action with fixed words.
func said(speech string) func(*Index, Intent, []int) string {
	return func(*Index, Intent, []int) string { return speech }
}

func answerState(reg *Index, in Intent, text string, targets []int) (string, *failure) {
	return stateSpeech(reg, in, text, targets), nil
}

func answerTemperature(reg *Index, _ Intent, _ string, targets []int) (string, *failure) {
	s, ok := temperatureSpeech(reg, targets)
	if !ok {
		return "", &failure{code: CodeNoMatch, speech: "Sorry, I don't know the temperature there"}
	}
	return s, nil
}

func answerWeather(reg *Index, _ Intent, _ string, targets []int) (string, *failure) {
	return weatherSpeech(reg.entities[targets[0]]), nil
}

// String returns the name as Home Assistant spells it.
func (n Name) String() string { return string(n) }
