// Package policy says who may deploy what: rules matching the sender (the
// SQS SenderId, the IAM principal that sent the request) and the request's
// requested_by to apps and environments.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Policy is a list of rules; a request is allowed when one rule matches.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule allows senders, optionally only for some requested_by values, to
// deploy apps to envs. "*" matches anything.
type Rule struct {
	Senders     []string `json:"senders"`
	RequestedBy []string `json:"requested_by,omitempty"`
	Apps        []string `json:"apps"`
	Envs        []string `json:"envs"`
}

// ErrDenied wraps every refusal.
var ErrDenied = errors.New("not allowed")

// Load reads a policy file, refusing unknown fields and empty rules.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	var errs []error
	for i, r := range p.Rules {
		for field, v := range map[string][]string{"senders": r.Senders, "apps": r.Apps, "envs": r.Envs} {
			if len(v) == 0 {
				errs = append(errs, fmt.Errorf("policy %s: $.rules[%d].%s is empty", path, i, field))
			}
		}
	}
	if len(p.Rules) == 0 {
		errs = append(errs, fmt.Errorf("policy %s: $.rules is empty: nothing would be allowed", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &p, nil
}

func match(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

// Allow returns nil if a rule lets sender, asking as requestedBy, deploy
// app to env, and an error wrapping ErrDenied that says who and what if not.
func (p *Policy) Allow(sender, requestedBy, app, env string) error {
	for _, r := range p.Rules {
		if match(r.Senders, sender) && (len(r.RequestedBy) == 0 || match(r.RequestedBy, requestedBy)) &&
			match(r.Apps, app) && match(r.Envs, env) {
			return nil
		}
	}
	return fmt.Errorf("%w: sender %q (requested_by %q) may not deploy %s to %s", ErrDenied, sender, requestedBy, app, env)
}
