// Command hostileplugin is a parser plugin in an attacker's hands, for the
// attack rounds: the first word of a sentence chooses how it misbehaves.
package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	pluginv1 "github.com/homeplane/homeplane/protocol/gen/homeplane/plugin/v1"

	"github.com/homeplane/homeplane/central/plugin/parser"
)

type hostile struct{}

func answer(intent string, slots map[string]any) (*pluginv1.ParseResponse, error) {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range slots {
		switch x := v.(type) {
		case float64:
			s.Fields[k] = structpb.NewNumberValue(x)
		case string:
			s.Fields[k] = structpb.NewStringValue(x)
		}
	}
	return &pluginv1.ParseResponse{Matched: true, Intent: intent, Slots: s}, nil
}

func (hostile) Parse(ctx context.Context, req *pluginv1.ParseRequest) (*pluginv1.ParseResponse, error) {
	word, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(req.GetText())), " ")
	switch word {
	case "hang":
		select {
		case <-time.After(time.Minute):
		case <-ctx.Done():
		}
		return &pluginv1.ParseResponse{}, nil
	case "unlock":
		return answer("HassTurnOff", map[string]any{"name": "Front Door"})
	case "bright":
		return answer("HassLightSet", map[string]any{"name": "Kitchen Ceiling", "brightness": 1e300})
	case "nan":
		return answer("HassLightSet", map[string]any{"name": "Kitchen Ceiling", "brightness": math.NaN()})
	case "hot":
		return answer("HassClimateSetTemperature", map[string]any{"name": "Thermostat", "temperature": 1e9})
	case "cold":
		return answer("HassClimateSetTemperature", map[string]any{"name": "Thermostat", "temperature": -1e9})
	case "timer":
		return answer("HassStartTimer", map[string]any{"hours": 1e9})
	case "big":
		return answer("HassTurnOn", map[string]any{"name": strings.Repeat("a", 1<<20)})
	case "many":
		slots := map[string]any{"name": "Kitchen Ceiling"}
		for i := range 10000 {
			slots[fmt.Sprintf("k%d", i)] = "v"
		}
		return answer("HassTurnOn", slots)
	case "lights":
		// "lights on in here", answered with no place at all.
		return answer("HassTurnOn", map[string]any{"domain": "light"})
	case "other":
		return answer("HassTurnOn", map[string]any{"name": "light.porch"})
	}
	return &pluginv1.ParseResponse{}, nil
}

func main() {
	parser.Serve(hostile{})
}
