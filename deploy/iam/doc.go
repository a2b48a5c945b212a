// Package iam holds the least-privilege IAM policy of each role (deploy,
// slack, artifactdb, enqueue) as JSON documents, and a test that runs each
// role against the sandbox's stand-ins and compares the AWS actions it was
// seen to make with its policy. README.md says how to use them.
package iam

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
)

//go:embed *.json
var documents embed.FS

// Roles are the roles that have a policy document, <role>.json.
var Roles = []string{"deploy", "slack", "artifactdb", "enqueue"}

// Policy is an IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a policy.
type Statement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Action    stringList      `json:"Action"`
	Resource  stringList      `json:"Resource"`
	Condition json.RawMessage `json:"Condition,omitempty"`
}

// stringList is a JSON string or list of strings.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Load reads a role's policy.
func Load(role string) (Policy, error) {
	b, err := documents.ReadFile(role + ".json")
	if err != nil {
		return Policy{}, err
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return Policy{}, fmt.Errorf("%s.json: %w", role, err)
	}
	return p, nil
}

// Actions returns the actions the policy allows, sorted, each once.
func (p Policy) Actions() []string {
	var out []string
	for _, st := range p.Statement {
		if st.Effect == "Allow" {
			out = append(out, st.Action...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
