package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// pair runs "pair CODE" and "pair deny CODE": a person answers the code a
// voice device shows.
func (a *app) pair(ctx context.Context, args []string) error {
	fs := a.flags("pair")
	homeID := homeFlag(fs)
	name := fs.String("name", "", "the device's name (default: the name it gave)")
	area := fs.String("area", "", "area the device stands in: what \"in here\" means; its area id tells apart rooms two floors share")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	deny := len(pos) > 0 && pos[0] == "deny"
	if deny {
		pos = pos[1:]
	}
	if len(pos) != 1 {
		return usagef("pair needs the code the device shows (pair CODE, or pair deny CODE)")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	base, _ := a.baseURL()
	pairings := homeplanev1connect.NewPairingServiceClient(a.http, base, connect.WithInterceptors(c.session))
	if deny {
		if _, err := pairings.DenyPairing(ctx, connect.NewRequest(&homeplanev1.DenyPairingRequest{UserCode: pos[0]})); err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, &homeplanev1.DenyPairingResponse{})
		}
		_, err := fmt.Fprintln(a.env.Stdout, "Refused the device.")
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	resp, err := pairings.ApprovePairing(ctx, connect.NewRequest(&homeplanev1.ApprovePairingRequest{
		UserCode: pos[0], HomeId: home, Name: *name, Area: *area,
	}))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	_, err = fmt.Fprintf(a.env.Stdout, "Approved %q for home %s; the device gets its token on its next poll.\n", resp.Msg.GetName(), home)
	return err
}

// device runs "device pair": homectl as a reference voice device, over
// RFC 8628's plain form endpoints, as firmware would call them.
func (a *app) device(ctx context.Context, args []string) error {
	fs := a.flags("device")
	name := fs.String("name", "", "what the device calls itself, shown to the person approving")
	tokenFile := fs.String("token-file", "", "write the token to this file (mode 0600) instead of stdout")
	pollEvery := fs.Duration("poll-every", 0, "poll at this pace until central asks to slow down (default: the interval central gives)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "pair" {
		return usagef("device takes one command: pair")
	}
	base, err := a.baseURL()
	if err != nil {
		return err
	}
	var grant struct {
		DeviceCode      string `json:"device_code"`
		UserCode        string `json:"user_code"`
		URI             string `json:"verification_uri"`
		URIComplete     string `json:"verification_uri_complete"`
		ExpiresIn       int    `json:"expires_in"`
		IntervalSeconds int    `json:"interval"`
		Error           string `json:"error"`
		Description     string `json:"error_description"`
	}
	if _, err := a.postForm(ctx, base+"/oauth/device/code", url.Values{"client_name": {*name}}, &grant); err != nil {
		return err
	}
	if grant.DeviceCode == "" {
		return fmt.Errorf("central refused to start pairing: %s: %s", orDash(grant.Error), grant.Description)
	}
	fmt.Fprintf(a.env.Stderr, "To pair this device, open %s and enter %s\n  (or: homectl pair %s --home HOME)\nThe code expires in %s.\n",
		grant.URI, grant.UserCode, grant.UserCode, time.Duration(grant.ExpiresIn)*time.Second)

	wait := time.Duration(grant.IntervalSeconds) * time.Second
	if *pollEvery > 0 {
		wait = *pollEvery
	}
	deadline := a.now().Add(time.Duration(grant.ExpiresIn) * time.Second)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {grant.DeviceCode}}
	backoff := time.Second
	for {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		var answer struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
			Interval    int    `json:"interval"`
		}
		status, err := a.postForm(ctx, base+"/oauth/token", form, &answer)
		switch {
		case err != nil && status == 0 || status == http.StatusTooManyRequests || status >= 500:
			// Central out of reach or busy: the request changed nothing, so
			// it is tried again after a growing, jittered wait.
			if !a.now().Before(deadline) {
				return fmt.Errorf("central stayed out of reach until the code expired: %w", err)
			}
			fmt.Fprintf(a.env.Stderr, "homectl: polling failed (%v); trying again in %s\n", err, backoff)
			if err := sleep(ctx, jitter(backoff)); err != nil {
				return err
			}
			backoff = min(2*backoff, time.Minute)
			continue
		case status == http.StatusOK && answer.AccessToken != "":
			return a.keepDeviceToken(answer.AccessToken, *tokenFile)
		}
		backoff = time.Second
		switch answer.Error {
		case "authorization_pending":
		case "slow_down":
			wait = time.Duration(answer.Interval) * time.Second
			if wait <= 0 {
				wait += 5 * time.Second
			}
			fmt.Fprintf(a.env.Stderr, "central asked to slow down; polling every %s\n", wait)
		case "access_denied":
			return errors.New("the pairing was refused")
		case "expired_token":
			return errors.New("the code expired before anyone approved it; run device pair again")
		default:
			return fmt.Errorf("pairing failed: %s (HTTP %d)", orDash(answer.Error), status)
		}
	}
}

// keepDeviceToken prints the token alone on stdout, or writes it to file.
func (a *app) keepDeviceToken(token, file string) error {
	if file == "" {
		fmt.Fprintln(a.env.Stderr, "Paired. The device token is shown once:")
		_, err := fmt.Fprintln(a.env.Stdout, token)
		return err
	}
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	_, err := fmt.Fprintf(a.env.Stderr, "Paired. The device token is in %s\n", file)
	return err
}

// postForm posts a form and decodes the JSON answer into v, whatever its
// status; it returns the status (0 when no answer came).
func (a *app) postForm(ctx context.Context, u string, form url.Values, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach central at %s: %w", a.centralURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("HTTP %d with an answer that is not JSON", resp.StatusCode)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// jitter spreads a wait by ±20%, so devices back after a power cut do not
// all come at once.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
