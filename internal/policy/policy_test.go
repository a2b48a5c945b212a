package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAllow(t *testing.T) {
	p, err := Load(write(t, `{"rules":[
	  {"senders":["ci-role"],"apps":["*"],"envs":["dev","prod"]},
	  {"senders":["chatops"],"requested_by":["alice"],"apps":["shop"],"envs":["prod"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range [][4]string{{"ci-role", "anyone", "shop", "prod"}, {"chatops", "alice", "shop", "prod"}} {
		if err := p.Allow(ok[0], ok[1], ok[2], ok[3]); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, no := range [][4]string{{"ci-role", "x", "shop", "qa"}, {"chatops", "mallory", "shop", "prod"}, {"chatops", "alice", "api", "prod"}, {"other", "alice", "shop", "prod"}} {
		if err := p.Allow(no[0], no[1], no[2], no[3]); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), no[0]) {
			t.Errorf("%v: %v", no, err)
		}
	}
}

func TestLoadRefusesBadPolicies(t *testing.T) {
	for _, bad := range []string{`{"rules":[]}`, `{"rules":[{"senders":["a"],"apps":[],"envs":["*"]}]}`, `{"rulez":[]}`, `nope`} {
		if _, err := Load(write(t, bad)); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
}
