package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// mediaTarget fills name (a media player) or area slots.
func (s *sentence) mediaTarget(slots map[string]any) {
	t := s.target()
	if i, ok := t.entity(s.reg, "media_player"); ok && s.reg.Entity(i).GetDomain() == "media_player" {
		slots["name"] = t.name
		if t.area != "" {
			slots["area"] = t.area // "pause the bedroom tv": the bedroom's, if it has one
		}
		return
	}
	t.name = ""
	s.place(t, slots, true)
}

// namesPlayer reports whether the sentence names a media player: "turn
// the telly up to 30 percent" sets its volume.
func (s *sentence) namesPlayer() bool {
	for _, c := range s.chunks {
		if c.kind != cRef {
			continue
		}
		for _, r := range c.refs {
			if r.Kind == intent.RefEntity && s.reg.Entity(r.Index).GetDomain() == "media_player" {
				return true
			}
		}
	}
	return false
}

// namesOther reports whether the sentence names a device of the home that
// is no media player, and no player: "pause the garage door", "skip the
// blinds" and "play the garage door" act on no player.
func (s *sentence) namesOther() bool {
	other := false
	for _, c := range s.chunks {
		if c.kind == cNoun && c.cls != nil && c.cls.domain != "" && !c.cls.generic {
			if c.cls.domain == "media_player" {
				return false
			}
			other = true // "pause the blinds"
		}
		if c.kind != cRef || !s.objectOfMedia(c) {
			continue
		}
		for _, r := range c.refs {
			if r.Kind != intent.RefEntity {
				continue
			}
			if s.reg.Entity(r.Index).GetDomain() == "media_player" {
				return false
			}
			other = true
		}
	}
	return other
}

// objectOfMedia reports whether a name is what a media verb is said of:
// anywhere but in what "play" asks for, where only a name that ends the
// sentence after "play", "the" or "on" is ("play the garage door", not
// "play the album Abbey Road" in a home with a Road Safety sensor).
func (s *sentence) objectOfMedia(c chunk) bool {
	if s.playWord() < 0 {
		return true
	}
	if c.end != len(s.toks) || c.start == 0 {
		return false
	}
	w := s.toks[c.start-1]
	return w == "play" || w == "the" || w == "on" || w == "my"
}

// mediaOnly are verbs said of media alone: a sentence that says one is
// no other command ("next track on the thermostat" turns nothing on).
var mediaOnly = map[string]bool{"pause": true, "resume": true, "unpause": true, "skip": true, "mute": true,
	"unmute": true, "rewind": true, "replay": true, "play": true, "track": true, "song": true}

// saysMediaVerb reports whether a word outside the home's names is one
// said of media alone.
func (s *sentence) saysMediaVerb() bool {
	for i, t := range s.toks {
		if mediaOnly[t] && !s.inName(i) {
			return true
		}
	}
	return false
}

func (s *sentence) playWord() int {
	for _, c := range s.chunks {
		if c.kind == cWord && s.toks[c.start] == "play" {
			return c.start
		}
	}
	return -1
}

// mediaWords are the words without one of which a sentence is no media
// command; most sentences are not, and media's many tests are then skipped.
var mediaWords = map[string]bool{
	"volume": true, "louder": true, "quieter": true, "up": true, "down": true, "mute": true, "silence": true,
	"unmute": true, "skip": true, "next": true, "previous": true, "replay": true, "rewind": true, "last": true,
	"go": true, "pause": true, "stop": true, "off": true, "resume": true, "unpause": true, "continue": true,
	"play": true,
}

func (s *sentence) media() (intent.Intent, bool) {
	if in, ok := s.putOn(); ok {
		return in, true
	}
	mentioned := false
	for _, t := range s.toks {
		if mediaWords[t] {
			mentioned = true
			break
		}
	}
	if !mentioned || s.namesOther() {
		return intent.Intent{}, false
	}
	var slots map[string]any // made once the sentence is known to be media
	mk := func(name intent.Name) (intent.Intent, bool) {
		if slots == nil {
			slots = map[string]any{}
		}
		s.mediaTarget(slots)
		return intent.Intent{Name: name, Slots: slots}, true
	}
	track := s.has("track", "song", "item", "episode", "chapter", "tune", "video")
	switch {
	case s.has("volume", "louder", "quieter") || s.has("up", "down") && s.has("to") && (s.namesPlayer() || s.has("music")):
		if v, ok := s.firstNumber(); ok {
			slots = map[string]any{"volume_level": number(v)}
			return mk(intent.SetVolume)
		}
		return intent.Intent{}, false
	case s.has("mute", "silence"):
		return mk(intent.MediaPlayerMute)
	case s.has("unmute"):
		return mk(intent.MediaPlayerUnmute)
	case s.has("skip") || s.has("next") && (track || s.first() == "next"):
		return mk(intent.MediaNext)
	case s.has("previous", "replay", "rewind") || s.has("last") && track || s.hasSeq("go", "back") && !s.has("timer"):
		return mk(intent.MediaPrevious)
	case s.has("pause") && !s.has("timer"),
		s.has("stop", "off") && s.has("music", "playback", "playing", "song", "track", "audio", "radio", "podcast"):
		return mk(intent.MediaPause)
	case s.has("resume", "unpause", "continue"):
		return mk(intent.MediaUnpause)
	}
	if p := s.playWord(); p >= 0 {
		return s.searchAndPlay(p)
	}
	return intent.Intent{}, false
}

// putOn reads "put on <what> on <player>", a British way to ask to play:
// "put on Desert Island Discs on the Echo". What is put on names nothing
// of the home, else it is "put on the kettle".
func (s *sentence) putOn() (intent.Intent, bool) {
	if len(s.toks) < 5 || s.toks[0] != "put" || s.toks[1] != "on" || !s.namesPlayer() {
		return intent.Intent{}, false
	}
	for _, c := range s.chunks {
		if c.start >= 2 && (c.kind == cRef || c.kind == cNoun) {
			if c.start > 3 && s.toks[c.start-1] == "the" && (s.toks[c.start-2] == "on" || s.toks[c.start-2] == "in") {
				break // the player, after what is put on
			}
			return intent.Intent{}, false
		}
	}
	in, ok := s.searchAndPlay(1)
	if !ok || in.Name != intent.MediaSearchAndPlay || in.Slots["name"] == nil && in.Slots["area"] == nil {
		s.stray = nil
		return intent.Intent{}, false
	}
	return in, true
}

var mediaClasses = map[string]string{
	"artist": "artist", "band": "artist", "album": "album", "track": "track", "song": "track",
	"movie": "movie", "film": "movie", "show": "tv_show", "series": "tv_show", "playlist": "playlist",
	"podcast": "podcast", "episode": "episode", "channel": "channel", "station": "channel", "genre": "genre",
	"audiobook": "audiobook", "book": "audiobook",
}

// searchAndPlay reads "play <what> [<class>] [on <player> | in <area> | by
// the <area>]".
func (s *sentence) searchAndPlay(p int) (intent.Intent, bool) {
	slots := map[string]any{}
	end := len(s.toks)
	// A trailing "on the TV" / "in the kitchen" names where to play.
	for i := end - 1; i > p+1; i-- {
		w := s.toks[i]
		if w != "on" && w != "in" && w != "at" && w != "by" {
			continue
		}
		j := i + 1
		for j < end && (s.toks[j] == "the" || s.toks[j] == "my") {
			j++
		}
		n, refs := s.reg.Match(s.toks, j)
		if n == 0 || j+n != end {
			continue
		}
		for _, r := range refs {
			switch {
			case r.Kind == intent.RefEntity && s.reg.Entity(r.Index).GetDomain() == "media_player" && slots["name"] == nil:
				slots["name"] = r.Name
			case r.Kind == intent.RefArea && slots["name"] == nil && slots["area"] == nil:
				slots["area"] = s.areaName(&r)
			}
		}
		if slots["name"] != nil || slots["area"] != nil {
			end = i
		}
		break
	}
	if slots["name"] == nil && slots["area"] == nil {
		if at := s.strayPlayer(p+1, end); at > 0 {
			// "play jazz on the garage speaker": a player the home lacks
			s.stray = &intent.UnknownError{Kind: intent.UnknownDevice, Words: s.text(at, end)}
		}
	}
	q := s.toks[p+1 : end]
	some := len(q) > 0 && q[0] == "some" // "play some music" asks for new music
	for len(q) > 0 && (q[0] == "the" || q[0] == "some" || q[0] == "a") {
		q = q[1:]
	}
	// "the Beatles artist", "the track Bohemian Rhapsody", "the Breaking Bad TV show".
	if len(q) > 1 {
		if len(q) > 2 && q[len(q)-2] == "tv" && q[len(q)-1] == "show" {
			slots["media_class"], q = "tv_show", q[:len(q)-2]
		} else if c, ok := mediaClasses[q[len(q)-1]]; ok {
			slots["media_class"], q = c, q[:len(q)-1]
		} else if len(q) > 2 && q[0] == "tv" && q[1] == "show" {
			slots["media_class"], q = "tv_show", q[2:]
		} else if c, ok := mediaClasses[q[0]]; ok {
			// "the podcast The Daily": the title keeps its article.
			slots["media_class"], q = c, q[1:]
			if len(q) > 1 && q[0] == "the" {
				slots["search_query"] = s.spoken(q)
			}
		}
	}
	if len(q) > 2 && (q[0] == "music" || q[0] == "songs" || q[0] == "something") && q[1] == "by" {
		slots["media_class"], q = "artist", q[2:]
	}
	for len(q) > 0 && q[0] == "the" {
		q = q[1:]
	}
	if len(q) == 0 || len(q) == 1 && (q[0] == "music" && !some || q[0] == "media") {
		delete(slots, "media_class")
		if slots["name"] == nil && slots["area"] == nil {
			s.mediaTarget(slots)
		}
		return intent.Intent{Name: intent.MediaUnpause, Slots: slots}, true
	}
	if slots["search_query"] == nil {
		slots["search_query"] = s.spoken(q)
	}
	if slots["name"] == nil && slots["area"] == nil && s.pc.Area != "" {
		slots["area"] = s.pc.Area
	}
	return intent.Intent{Name: intent.MediaSearchAndPlay, Slots: slots}, true
}

// playerWords end what can only be a player's name.
var playerWords = map[string]bool{"speaker": true, "speakers": true, "tv": true, "telly": true, "television": true,
	"radio": true, "stereo": true, "soundbar": true}

// strayPlayer returns where the words of a player end a search ("on the
// garage speaker") that names no player of the home, or 0.
func (s *sentence) strayPlayer(from, end int) int {
	if end-from < 3 || !playerWords[s.toks[end-1]] {
		return 0
	}
	for i := end - 2; i > from; i-- {
		if s.toks[i] == "on" || s.toks[i] == "in" {
			j := i + 1
			for j < end-1 && (s.toks[j] == "the" || s.toks[j] == "my") {
				j++
			}
			return j
		}
	}
	return 0
}

func (s *sentence) vacuum() (intent.Intent, bool) {
	t := s.target()
	i, isEnt := t.entity(s.reg, "vacuum")
	// "clean the living room", "clean the upper floor": a place to clean
	// is the vacuum's job.
	cleanPlace := s.first() == "clean" && t.name == "" && t.cls == nil && (t.area != "" || t.floor != "")
	isVac := isEnt && s.reg.Entity(i).GetDomain() == "vacuum" || t.cls != nil && t.cls.domain == "vacuum" ||
		s.has("vacuum", "vacuuming", "hoover", "hoovering") || cleanPlace
	if !isVac {
		return intent.Intent{}, false
	}
	name := intent.VacuumStart
	if s.has("dock", "base", "home", "charger", "return", "back") || s.first() == "stop" {
		name = intent.VacuumReturnToBase
	} else if !s.has("start", "vacuum", "vacuuming", "clean", "hoover", "hoovering", "run", "go") && s.first() != "vacuum" && !s.getGoing() {
		return intent.Intent{}, false
	}
	slots := map[string]any{}
	if isEnt && s.reg.Entity(i).GetDomain() == "vacuum" {
		slots["name"] = t.name
	} else if t.area != "" || t.floor != "" {
		t.name = ""
		s.place(t, slots, false)
	}
	return intent.Intent{Name: name, Slots: slots}, true
}

// mower reads a robot lawn mower's two jobs, as Home Assistant's lawn_mower
// intents do: "mow the lawn", "start the mower", "send the mower home". Its
// place is not kept: Home Assistant's intents take a mower by name only.
func (s *sentence) mower() (intent.Intent, bool) {
	t := s.target()
	i, isEnt := t.entity(s.reg, "lawn_mower")
	isEnt = isEnt && s.reg.Entity(i).GetDomain() == "lawn_mower"
	if !isEnt && (t.cls == nil || t.cls.domain != "lawn_mower") && !s.has("mow", "mowing") {
		return intent.Intent{}, false
	}
	name := intent.LawnMowerStartMowing
	switch {
	case s.has("dock", "base", "home", "charger", "return", "back") || s.first() == "stop":
		name = intent.LawnMowerDock
	case !s.has("start", "mow", "mowing", "run", "go") && !s.getGoing():
		return intent.Intent{}, false
	}
	slots := map[string]any{}
	if isEnt {
		slots["name"] = t.name
	}
	return intent.Intent{Name: name, Slots: slots}, true
}

// getGoing reads "get the hoover going", "get the fan started": to set
// something going is to start it.
func (s *sentence) getGoing() bool {
	return s.first() == "get" && s.has("going", "started", "running", "moving")
}

// titleArticles open a title when said with a capital: "play The Office".
var titleArticles = map[string]bool{"The": true, "A": true, "An": true}

// spoken returns the words of q as the sentence said them: their case, and
// a capitalised article before them ("The Office"), since a title is
// searched as written. Without the original words it is q as read.
func (s *sentence) spoken(q []string) string {
	want := strings.Join(q, " ")
	words := strings.Fields(s.raw)
	for i := range words {
		for j := i + 1; j <= len(words) && j-i <= len(q)+1; j++ {
			if intent.Normalize(strings.Join(words[i:j], " ")) != want {
				continue
			}
			if i > 0 && titleArticles[words[i-1]] {
				i--
			}
			return strings.TrimRight(strings.Join(words[i:j], " "), ".,!?")
		}
	}
	return want
}

// mediaIntent reports whether an intent acts on media players.
func mediaIntent(n intent.Name) bool {
	switch n {
	case intent.MediaPause, intent.MediaUnpause, intent.MediaNext, intent.MediaPrevious, intent.SetVolume,
		intent.MediaSearchAndPlay, intent.MediaPlayerMute, intent.MediaPlayerUnmute:
		return true
	}
	return false
}
