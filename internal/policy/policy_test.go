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

const (
	ci  = "AROAEXAMPLECIROLE0001"
	bot = "AROAEXAMPLEBOTROLE001"
)

func TestAllow(t *testing.T) {
	p, err := Load(write(t, `{"rules":[
	  {"senders":["`+ci+`"],"apps":["*"],"envs":["dev","prod"]},
	  {"senders":["`+bot+`"],"requested_by":["alice"],"apps":["shop"],"envs":["prod"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range [][4]string{
		{ci + ":build-42", "anyone", "shop", "prod"},
		{ci + ":any-session-name", "x", "api", "dev"},
		{bot + ":slack", "alice", "shop", "prod"},
	} {
		if err := p.Allow(ok[0], ok[1], ok[2], ok[3]); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, no := range [][4]string{
		{ci + ":x", "x", "shop", "qa"},
		{bot + ":slack", "mallory", "shop", "prod"},
		{bot + ":slack", "alice", "api", "prod"},
		// A session named like an allowed role is still another role.
		{"AROAEXAMPLEOTHERROLE1:" + ci, "alice", "shop", "prod"},
		// requested_by from a sender that is no relay counts for nothing.
		{"AROAEXAMPLEOTHERROLE1:x", "alice", "shop", "prod"},
	} {
		if err := p.Allow(no[0], no[1], no[2], no[3]); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), Principal(no[0])) {
			t.Errorf("%v: %v", no, err)
		}
	}
}

func TestLoadRefusesBadPolicies(t *testing.T) {
	for bad, want := range map[string]string{
		`{"rules":[]}`: "nothing would be allowed",
		`{"rules":[{"senders":["` + ci + `"],"apps":[],"envs":["*"]}]}`: "apps is empty",
		`{"rulez":[]}`: "unknown field",
		`nope`:         "invalid character",
		`{"rules":[{"senders":["` + ci + `:ci"],"apps":["*"],"envs":["*"]}]}`:            "names a role session",
		`{"rules":[{"senders":["ci-deployer"],"apps":["*"],"envs":["*"]}]}`:              "not a unique ID",
		`{"rules":[{"senders":["*"],"requested_by":["e2e"],"apps":["*"],"envs":["*"]}]}`: "must name its senders",
	} {
		if _, err := Load(write(t, bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
}
