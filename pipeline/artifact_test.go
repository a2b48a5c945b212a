package pipeline

import (
	"errors"
	"testing"
)

// TestGateReadsShortSHA: the original tool tagged results with the config
// SHA's first 8 characters; a request naming the full SHA passes the gate
// on such a tag, and a failure or another config does not.
func TestGateReadsShortSHA(t *testing.T) {
	env := &EnvConfig{RequiresPreviousEnvDeploy: "dev"}
	const full = "9f2c1e0a7b3d4c5e6f708192a3b4c5d6e7f80912"
	for _, c := range []struct {
		name string
		tags map[string]string
		sha  string
		ok   bool
	}{
		{"tag of the original, full SHA asked", map[string]string{"deploy-dev-9f2c1e0a": "success"}, full, true},
		{"short SHA asked", map[string]string{"deploy-dev-9f2c1e0a": "success"}, "9f2c1e0a", true},
		{"failure", map[string]string{"deploy-dev-9f2c1e0a": "failure"}, full, false},
		{"another config", map[string]string{"deploy-dev-00000000": "success"}, full, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkGate(Artifact{BuildNumber: 7, Tags: c.tags}, env, c.sha)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrGate)) {
				t.Fatalf("gate: %v, want pass %v", err, c.ok)
			}
		})
	}
}
