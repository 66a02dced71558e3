package main

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// policyNames are the names homectl takes for the sensitive-action
// policies.
var policyNames = map[string]homeplanev1.SensitivePolicy{
	"allow":   homeplanev1.SensitivePolicy_SENSITIVE_POLICY_ALLOW,
	"confirm": homeplanev1.SensitivePolicy_SENSITIVE_POLICY_CONFIRM,
	"deny":    homeplanev1.SensitivePolicy_SENSITIVE_POLICY_DENY,
}

// policyName is the name homectl uses for p ("confirm").
func policyName(p homeplanev1.SensitivePolicy) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "SENSITIVE_POLICY_"))
}

// policy runs "policy [show]" and "policy set allow|confirm|deny": what the
// home's voice devices may do with sensitive actions (unlocking, opening
// garage doors, doors, gates and valves).
func (a *app) policy(ctx context.Context, args []string) error {
	fs := a.flags("policy")
	homeID := homeFlag(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	value, err := showOrSet("policy", pos, "allow, confirm, deny")
	if err != nil {
		return err
	}
	want, ok := policyNames[value]
	if value != "" && !ok {
		return usagef("unknown policy %q: choose allow, confirm, deny", value)
	}
	c, home, err := a.userHome(ctx, *homeID)
	if err != nil {
		return err
	}
	var h *homeplanev1.Home
	if value != "" {
		resp, err := c.home.SetSensitivePolicy(ctx, connect.NewRequest(&homeplanev1.SetSensitivePolicyRequest{HomeId: home, Policy: want}))
		if err != nil {
			return err
		}
		h = resp.Msg.GetHome()
	} else {
		resp, err := c.home.GetHome(ctx, connect.NewRequest(&homeplanev1.GetHomeRequest{HomeId: home}))
		if err != nil {
			return err
		}
		h = resp.Msg.GetHome()
	}
	if a.json {
		return printJSON(a.env.Stdout, h)
	}
	if value != "" {
		_, err = fmt.Fprintf(a.env.Stdout, "Home %s: sensitive actions by voice now %s\n", home, policyName(h.GetSensitivePolicy()))
		return err
	}
	return table(a.env.Stdout, []any{"HOME", "SENSITIVE ACTIONS"}, [][]any{{home, policyName(h.GetSensitivePolicy())}})
}
