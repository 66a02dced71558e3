package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// say sends a sentence to the home and prints the answer. With a device
// token it speaks as that voice device (whose home and area central knows);
// otherwise as the logged-in user, for the chosen home. Like a voice device,
// it continues the speaker's conversation for five minutes after its last
// sentence. The exit status is 0 whenever central answered, also when the
// answer is "I don't understand": --json shows success and error_code.
func (a *app) say(ctx context.Context, args []string) error {
	fs := a.flags("say")
	homeID := homeFlag(fs)
	deviceToken := fs.String("device-token", "", "speak as the voice device with this token (default $"+envDeviceToken+")")
	conversation := fs.String("conversation", "", "continue this conversation id (default: this speaker's conversation of the last 5 minutes)")
	fresh := fs.Bool("new", false, "start a new conversation")
	language := fs.String("language", "", "BCP 47 language tag (central's default: en)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(pos, " "))
	if text == "" {
		return usagef("say needs the sentence to say")
	}
	if *deviceToken == "" {
		*deviceToken = a.env.Getenv(envDeviceToken)
	}
	req := &homeplanev1.ProcessRequest{Text: text, ConversationId: *conversation, Language: *language}

	var client homeplanev1connect.IntentServiceClient
	if *deviceToken != "" {
		base, err := a.baseURL()
		if err != nil {
			return err
		}
		client = homeplanev1connect.NewIntentServiceClient(a.http, base, connect.WithInterceptors(bearer(*deviceToken)))
	} else {
		c, err := a.userClients()
		if err != nil {
			return err
		}
		if req.HomeId, err = a.resolveHome(ctx, c.home, *homeID); err != nil {
			return err
		}
		client = c.intent
	}
	dir, dirErr := configDir(a.env.Getenv)
	convs, key := conversationStore{dir: dir}, speakerKey(*deviceToken, req.HomeId)
	if req.ConversationId == "" && !*fresh && dirErr == nil {
		req.ConversationId = convs.current(key, a.now())
	}
	// The key makes the one retry safe: should central have carried the
	// sentence out before the connection broke, the retry gets that answer
	// and the home does not run it again.
	req.IdempotencyKey = rand.Text()
	resp, err := client.Process(ctx, connect.NewRequest(req))
	if connect.CodeOf(err) == connect.CodeUnavailable && ctx.Err() == nil {
		fmt.Fprintf(a.env.Stderr, "homectl: central did not answer (%v); retrying with the same idempotency key\n", err)
		resp, err = client.Process(ctx, connect.NewRequest(req))
	}
	if err != nil {
		return err
	}
	if id := resp.Msg.GetConversationId(); id != "" && dirErr == nil {
		if err := convs.remember(key, id, a.now()); err != nil {
			fmt.Fprintf(a.env.Stderr, "homectl: conversation not kept: %v\n", err)
		}
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	_, err = fmt.Fprintln(a.env.Stdout, resp.Msg.GetSpeech())
	return err
}
