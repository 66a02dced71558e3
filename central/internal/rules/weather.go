package rules

import "github.com/homeplane/homeplane/central/internal/intent"

// weather reads a question about the weather: said with "weather" or
// "forecast", or about the sky alone.
func (s *sentence) weather() (intent.Intent, bool) {
	if !s.has("weather", "forecast") && !s.asksSky() {
		return intent.Intent{}, false
	}
	slots := map[string]any{}
	for _, c := range s.chunks {
		if c.kind == cRef && !(c.end-c.start == 1 && s.toks[c.start] == "forecast" && c.start > 0 && s.toks[c.start-1] == "weather") {
			// "the weather forecast" asks the weather, also of a home
			// whose weather is called Forecast
			for _, r := range c.refs {
				if r.Kind == intent.RefEntity && s.reg.Entity(r.Index).GetDomain() == "weather" {
					slots["name"] = r.Name
				}
			}
		}
	}
	return intent.Intent{Name: intent.GetWeather, Slots: slots}, true
}

// asksSky reports a question about the sky said without "weather": "will
// it rain today", "is it going to snow". A name of the home said in it
// ("is it raining in the courtyard") leaves it to the home's sensors.
func (s *sentence) asksSky() bool {
	if len(s.toks) < 3 || s.toks[1] != "it" || !s.has("rain", "raining", "snow", "snowing", "sunny", "windy", "shower", "showers") {
		return false
	}
	switch s.toks[0] {
	case "will", "is", "does", "could", "might", "should":
	default:
		return false
	}
	for _, c := range s.chunks {
		if c.kind == cRef || c.kind == cNoun {
			return false
		}
	}
	return true
}
