package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"
)

// help runs "homectl help [COMMAND]": the overview, or the command's lines
// from it followed by the flags of each of its forms.
func (a *app) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.env.Stdout, usageText)
		return nil
	}
	if len(args) > 1 {
		return usagef("help takes one command")
	}
	f, ok := a.commands()[args[0]]
	if !ok {
		return usagef("unknown command %q", args[0])
	}
	// A command with forms (password change|forgot|reset) shows each one's
	// flags; the others show theirs at once. -h never reaches central.
	if err := f(ctx, []string{"-h"}); errors.Is(err, flag.ErrHelp) {
		return nil
	}
	shown := false
	for _, verb := range verbs(args[0]) {
		if err := f(ctx, []string{verb, "-h"}); errors.Is(err, flag.ErrHelp) {
			shown = true
		}
	}
	if !shown {
		fmt.Fprint(a.env.Stdout, commandUsage(args[0]))
	}
	return nil
}

// printHelp prints the usage lines of fs's command and its flags.
func (a *app) printHelp(fs *flag.FlagSet) {
	if fs.Name() == "homectl" {
		fmt.Fprint(a.env.Stdout, usageText)
		return
	}
	out := a.env.Stdout
	fmt.Fprintf(out, "usage (homectl %s):\n%s\nflags:\n", fs.Name(), commandUsage(fs.Name()))
	fs.SetOutput(out)
	fs.PrintDefaults()
	fs.SetOutput(nil)
	fmt.Fprintln(out)
}

// commandUsage returns the entries of usageText and of the commands' own
// usage texts that start with name ("say", "password change"), with their
// continuation lines.
func commandUsage(name string) string {
	first, rest, _ := strings.Cut(name, " ")
	text := usageText
	if sub, ok := subUsage[first]; ok && rest != "" {
		text, name = sub, rest
	}
	var b strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		entry := strings.TrimLeft(line, " ")
		indent := len(line) - len(entry)
		switch {
		case indent == 2 && (entry == name || strings.HasPrefix(entry, name+" ")):
			in = true
		case indent <= 2 || entry == "":
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// subUsage are the usage texts of commands with forms.
var subUsage = map[string]string{"password": passwordUsage, "admin": adminUsage}

var verbWord = regexp.MustCompile(`^[a-z][a-z-]*$`)

// verbs are the forms of a command as its usage text names them:
// "admin users|homes|audit|usage ..." gives users, homes, audit, usage.
func verbs(name string) []string {
	text := commandUsage(name)
	if sub, ok := subUsage[name]; ok {
		text = sub
	}
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		word := fields[1]
		if _, ok := subUsage[name]; ok {
			word = fields[0]
		}
		for _, v := range strings.Split(word, "|") {
			if verbWord.MatchString(v) && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}
