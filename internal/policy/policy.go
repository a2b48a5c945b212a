// Package policy says who may deploy what: rules matching the sender (the
// principal SQS names as the message's SenderId) and, for relays such as
// a chat-ops bot, the request's requested_by, to apps and environments.
//
// A sender is named by its unique ID, never by a session name: for an
// assumed role SQS gives "AROA…:<session>", and whoever assumes the role
// picks the session name, so rules match the "AROA…" part alone.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Policy is a list of rules; a request is allowed when one rule matches.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule allows senders to deploy apps to envs. "*" matches anything.
//
// Senders are unique IDs: an IAM role's ("AROA…", from `aws iam get-role
// --role-name NAME --query Role.RoleId`), an IAM user's ("AIDA…"), or an
// account ID for its root user.
//
// RequestedBy makes the rule's senders relays: they send on behalf of
// people, and say who in requested_by. The rule then matches only requests
// whose requested_by it lists. Without RequestedBy a rule ignores
// requested_by, which any sender can write.
type Rule struct {
	Senders     []string `json:"senders"`
	RequestedBy []string `json:"requested_by,omitempty"`
	Apps        []string `json:"apps"`
	Envs        []string `json:"envs"`
}

// ErrDenied wraps every refusal.
var ErrDenied = errors.New("not allowed")

var (
	uniqueID  = regexp.MustCompile(`^A[A-Z0-9]{3}[A-Z0-9]{12,124}$`)
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
)

// Load reads a policy file, refusing unknown fields, empty rules, and
// senders named in a way that could be spoofed or that SQS never reports.
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
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("policy %s: "+format, append([]any{path}, args...)...))
	}
	for i, r := range p.Rules {
		for _, f := range []struct {
			name string
			v    []string
		}{{"senders", r.Senders}, {"apps", r.Apps}, {"envs", r.Envs}} {
			if len(f.v) == 0 {
				bad("$.rules[%d].%s is empty", i, f.name)
			}
		}
		for j, s := range r.Senders {
			if err := checkSender(s); err != nil {
				bad("$.rules[%d].senders[%d]: %v", i, j, err)
			}
		}
		if len(r.RequestedBy) > 0 && slices.Contains(r.Senders, "*") {
			bad(`$.rules[%d]: requested_by is written by the sender, so a rule that trusts it must name its senders (the relays), not "*"`, i)
		}
	}
	if len(p.Rules) == 0 {
		bad("$.rules is empty: nothing would be allowed")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &p, nil
}

func checkSender(s string) error {
	switch {
	case s == "*", uniqueID.MatchString(s), accountID.MatchString(s):
		return nil
	case strings.Contains(s, ":") && uniqueID.MatchString(s[:strings.Index(s, ":")]):
		return fmt.Errorf("%q names a role session; whoever assumes the role picks the session name: name the role's ID %s alone", s, s[:strings.Index(s, ":")])
	}
	return fmt.Errorf("%q is not a unique ID (AROA… for a role, AIDA… for a user, from `aws iam get-role --role-name NAME --query Role.RoleId`) nor an account ID", s)
}

// Principal is the principal part of an SQS SenderId: the unique ID alone,
// without an assumed role's session name.
func Principal(senderID string) string {
	if i := strings.IndexByte(senderID, ':'); i >= 0 {
		return senderID[:i]
	}
	return senderID
}

func match(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

// Allow returns nil if a rule lets sender, asking as requestedBy, deploy
// app to env, and an error wrapping ErrDenied that says who and what if not.
func (p *Policy) Allow(sender, requestedBy, app, env string) error {
	principal := Principal(sender)
	for _, r := range p.Rules {
		if match(r.Senders, principal) && (len(r.RequestedBy) == 0 || match(r.RequestedBy, requestedBy)) &&
			match(r.Apps, app) && match(r.Envs, env) {
			return nil
		}
	}
	return fmt.Errorf("%w: sender %s (requested_by %q) may not deploy %s to %s", ErrDenied, principal, requestedBy, app, env)
}
