package main

import (
	"strings"
	"testing"

	"ecs-deploy/pipeline"
)

func TestConfigMustLiveWhereTheDaemonRuns(t *testing.T) {
	cases := []struct {
		name            string
		account, region string
		want            string // in the error; "" for none
	}{
		{"same account and region", "111122223333", "eu-west-1", ""},
		{"no ConfigAccountID or ConfigRegion", "", "", ""},
		{"another account", "444455556666", "eu-west-1", "ConfigAccountID is 444455556666, but this daemon runs in account 111122223333"},
		{"another region", "111122223333", "us-east-1", "ConfigRegion is us-east-1, but this daemon runs in eu-west-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := atHome(&pipeline.DeployConfig{ConfigAccountID: c.account, ConfigRegion: c.region}, "111122223333", "eu-west-1")
			if c.want == "" && err != nil {
				t.Fatal(err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("error %v; want %q", err, c.want)
			}
		})
	}
}
