package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// noCentral fails any request: help must never call central.
type noCentral struct{ t testing.TB }

func (n noCentral) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("help called central: %s", r.URL)
	return nil, errors.New("no central in this test")
}

func runHelp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &environment{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv:     func(string) string { return "" },
		HTTPClient: &http.Client{Transport: noCentral{t}},
	})
	return code, out.String(), errOut.String()
}

func TestHelpCommandShowsItsFlags(t *testing.T) {
	for _, args := range [][]string{{"help", "say"}, {"say", "--help"}, {"say", "-h"}} {
		code, out, _ := runHelp(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"say [--home ID] [--device-token T] [--conversation ID | --new] [--language L] TEXT", "-conversation", "-language", "-json", "-device-token", "-home"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "Administration") {
			t.Errorf("%v prints the whole overview:\n%s", args, out)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	a := &app{}
	for name := range a.commands() {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runHelp(t, "help", name)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, name) || !strings.Contains(out, "flags:") || !strings.Contains(out, "-central-url") {
				t.Errorf("help %s:\n%s", name, out)
			}
		})
	}
	// Commands with forms show each form's own flags.
	_, out, _ := runHelp(t, "help", "password")
	for _, want := range []string{"change [--current P]", "-current", "forgot --email E", "-email", "reset --token T", "-token"} {
		if !strings.Contains(out, want) {
			t.Errorf("help password lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runHelp(t, "help", "admin")
	for _, want := range []string{"-query", "-outcome", "--since T --until T"} {
		if !strings.Contains(out, want) {
			t.Errorf("help admin lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpOverviewAndMistakes(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, _ := runHelp(t, args...)
		if code != exitOK || !strings.Contains(out, "Administration") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if code, _, errOut := runHelp(t, "help", "nonsense"); code != exitUsage || !strings.Contains(errOut, `unknown command "nonsense"`) {
		t.Errorf("help nonsense: exit %d, %s", code, errOut)
	}
}
