package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestHelpListsCommandsAndEveryFlagWithItsVariable(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out bytes.Buffer
		if err := runMain(context.Background(), args, env(nil), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for name := range commands {
			if !strings.Contains(out.String(), "\n  "+name+" ") {
				t.Errorf("%v does not list the %s command", args, name)
			}
		}
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		var c config
		bindFlags(fs, &c)
		fs.VisitAll(func(f *flag.Flag) {
			listed := strings.Contains(out.String(), "-"+f.Name+" ") || strings.Contains(out.String(), "-"+f.Name+"\n")
			if !listed || !strings.Contains(out.String(), "(env "+envName(f.Name)) {
				t.Errorf("%v does not list --%s with %s", args, f.Name, envName(f.Name))
			}
		})
		if !strings.Contains(out.String(), "HOMEPLANE_DATABASE_URL_FILE") {
			t.Errorf("%v does not mention the _FILE variants", args)
		}
	}
}

// The variable help names for a flag is the one that sets it.
func TestEveryFlagVariableConfigures(t *testing.T) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	var c config
	bindFlags(fs, &c)
	base := map[string]string{"HOMEPLANE_DATABASE_URL": "postgres://a@b/c"}
	before := defaultConfig()
	if err := applyEnv(&before, env(base)); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		// The first value of a kind the setting takes must change the config.
		var problems []string
		for _, value := range []string{"x", "7", "7m", "true", "postgres://other@b/c"} {
			e := map[string]string{"HOMEPLANE_DATABASE_URL": "postgres://a@b/c", envName(f.Name): value}
			after := defaultConfig()
			if err := applyEnv(&after, env(e)); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if reflect.DeepEqual(before, after) {
				t.Errorf("%s=%s changes nothing", envName(f.Name), value)
			}
			return
		}
		t.Errorf("%s takes none of the test values: %v", envName(f.Name), problems)
	})
}

func TestHelpCommand(t *testing.T) {
	var out bytes.Buffer
	if err := runMain(context.Background(), []string{"help", "users"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users promote EMAIL", "Usage of homeplane-central users promote", "-database-url", "HOMEPLANE_DATABASE_URL_FILE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help users lacks %q:\n%s", want, out.String())
		}
	}
	for name := range commands {
		out.Reset()
		if err := runMain(context.Background(), []string{"help", name}, env(nil), &out, io.Discard); err != nil {
			t.Errorf("help %s: %v", name, err)
		}
		if !strings.Contains(out.String(), "usage: ") && !strings.Contains(out.String(), "usage:\n") {
			t.Errorf("help %s shows no usage:\n%s", name, out.String())
		}
	}
	if err := runMain(context.Background(), []string{"help", "nonsense"}, env(nil), &out, io.Discard); err == nil || !strings.Contains(err.Error(), "users") {
		t.Errorf("help nonsense: %v", err)
	}
	// A command's own -h succeeds too.
	var stderr bytes.Buffer
	if err := runMain(context.Background(), []string{"serve", "--help"}, env(nil), io.Discard, &stderr); err != nil || !strings.Contains(stderr.String(), "-http-addr") {
		t.Errorf("serve --help: %v\n%s", err, stderr.String())
	}
}

// "config" checks like serve and prints the effective values, masked.
func TestConfigCommand(t *testing.T) {
	var out bytes.Buffer
	err := runMain(context.Background(), []string{"config", "--log-level", "debug"},
		env(map[string]string{"HOMEPLANE_DATABASE_URL_FILE": "testdata/database_url.secret"}), io.Discard, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "log_level=debug") || !strings.Contains(out.String(), "database_url=postgres://homeplane:xxxxx@db:5432") {
		t.Errorf("config printed:\n%s", out.String())
	}
	if strings.Contains(out.String(), "from-a-file") {
		t.Errorf("config shows the password:\n%s", out.String())
	}
	if err := runMain(context.Background(), []string{"config", "--log-level", "loud"}, env(nil), io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "database-url") || !strings.Contains(err.Error(), "log-level") {
		t.Errorf("bad config: %v", err)
	}
}
