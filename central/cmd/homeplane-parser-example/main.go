// Command homeplane-parser-example is an example parser plugin: it
// understands "<name> on" and "<name> off" for any entity of the home, and
// shows how a plugin uses the SDK in central/plugin/parser. Central starts
// it (parser_plugin in central's config); run by hand it refuses to start.
package main

import (
	"context"
	"os"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	pluginv1 "github.com/homeplane/homeplane/protocol/gen/homeplane/plugin/v1"

	"github.com/homeplane/homeplane/central/plugin/parser"
)

type example struct{}

func (example) Parse(_ context.Context, req *pluginv1.ParseRequest) (*pluginv1.ParseResponse, error) {
	text := strings.ToLower(strings.Trim(strings.TrimSpace(req.GetText()), ".!?"))
	if text == "crash the plugin" {
		// Lets tests and operators see what a crashing plugin does to
		// central: nothing but a clear error and a restart.
		os.Exit(3)
	}
	intent := ""
	name := ""
	switch {
	case strings.HasSuffix(text, " on"):
		intent, name = "HassTurnOn", strings.TrimSuffix(text, " on")
	case strings.HasSuffix(text, " off"):
		intent, name = "HassTurnOff", strings.TrimSuffix(text, " off")
	default:
		return &pluginv1.ParseResponse{}, nil
	}
	name = strings.TrimPrefix(name, "the ")
	for _, e := range req.GetEntities() {
		if strings.EqualFold(e.GetName(), name) {
			slots, err := structpb.NewStruct(map[string]any{"name": e.GetName()})
			if err != nil {
				return nil, err
			}
			return &pluginv1.ParseResponse{Matched: true, Intent: intent, Slots: slots}, nil
		}
	}
	return &pluginv1.ParseResponse{}, nil
}

func main() {
	parser.Serve(example{})
}
