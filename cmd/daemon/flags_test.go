package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfigFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{"ECS_DEPLOY_QUEUE": "from-env", "ECS_DEPLOY_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
		"ECS_DEPLOY_CONFIG_FILE": "c.json", "ECS_DEPLOY_ARTIFACTS": "a.json", "ECS_DEPLOY_CONCURRENCY": "7",
		"ECS_DEPLOY_ALLOW_ANY_SENDER": "true"}
	var c Config
	if err := c.Parse([]string{"-queue", "from-flag", "-poll", "250ms"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.Queue != "from-flag" || c.Concurrency != 7 || c.Poll != 250*time.Millisecond || c.LockTable != "DeployLock" {
		t.Fatalf("config: %+v", c)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	var c Config
	err := c.Parse([]string{"-roles", "deploy,slack,chat", "-concurrency", "0", "-log-format", "xml", "-credentials", "magic"}, func(string) string { return "" }, io.Discard)
	for _, want := range []string{"-queue", "-topic-arn", "config source", "-artifacts", "concurrency", `unknown role "chat"`, "-log-format",
		"-policy (ECS_DEPLOY_POLICY) is required", `-credentials "magic"`, "ECS_DEPLOY_SLACK_WEBHOOK_URL or ECS_DEPLOY_SLACK_TOKEN"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestConfigRefusesWhatSQSWould(t *testing.T) {
	var c Config
	long := strings.Repeat("q", 78)
	err := c.Parse([]string{"-queue", long, "-topic-arn", "arn:aws:sns:us-east-1:1:t.fifo", "-config-file", "c", "-artifacts", "a", "-allow-any-sender",
		"-visibility-timeout", "13h", "-max-queue-wait", "11h"}, func(string) string { return "" }, io.Discard)
	for _, want := range []string{"dead-letter queue", "-dead-letter-queue", "FIFO topics", "-visibility-timeout 13h0m0s", "-max-queue-wait 11h0m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestHelpIsNoError(t *testing.T) {
	var c Config
	if err := c.Parse([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestConfigOfEachRole(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
	}{
		{name: "slack alone needs no deploy flags", args: []string{"-roles", "slack", "-topic-arn", "arn:aws:sns:us-east-1:1:t"},
			env: map[string]string{"ECS_DEPLOY_SLACK_WEBHOOK_URL": "https://hooks.example/secret"}},
		{name: "bot mode needs routes", args: []string{"-roles", "slack", "-topic-arn", "arn:aws:sns:us-east-1:1:t"},
			env: map[string]string{"ECS_DEPLOY_SLACK_TOKEN": "xoxb-secret"}, wantErr: []string{"needs -slack-routes"}},
		{name: "webhook and token exclude each other", args: []string{"-roles", "slack", "-create-resources", "-slack-routes", "r.json"},
			env: map[string]string{"ECS_DEPLOY_SLACK_TOKEN": "xoxb-secret", "ECS_DEPLOY_SLACK_WEBHOOK_URL": "https://hooks.example/secret"}, wantErr: []string{"not both"}},
		{name: "artifactdb needs one store", args: []string{"-roles", "artifactdb", "-topic-arn", "arn:aws:sns:us-east-1:1:t", "-artifacts", "a.json", "-artifacts-table", "Artifacts"},
			wantErr: []string{"one ArtifactDB store", "2 are set"}},
		{name: "artifactdb with a table", args: []string{"-roles", "artifactdb", "-topic-arn", "arn:aws:sns:us-east-1:1:t", "-artifacts-table", "Artifacts"}},
		{name: "a role queue SQS would refuse", args: []string{"-roles", "artifactdb", "-topic-arn", "arn:aws:sns:us-east-1:1:t", "-artifacts-table", "A", "-artifactdb-queue", "bad name"},
			wantErr: []string{"-artifactdb-queue"}},
		{name: "all three", args: []string{"-roles", "deploy, slack,artifactdb", "-create-resources", "-queue", "q", "-config-file", "c.json", "-allow-any-sender",
			"-artifact-db-cli", "artifact-db", "-credentials", "assume-role", "-role-arn-template", "arn:aws:iam::{{.Account}}:role/deployer"},
			env: map[string]string{"ECS_DEPLOY_SLACK_WEBHOOK_URL": "https://hooks.example/secret"}},
		{name: "a bad role template", args: []string{"-queue", "q", "-topic-arn", "arn:aws:sns:us-east-1:1:t", "-config-file", "c.json", "-allow-any-sender", "-artifacts", "a.json",
			"-credentials", "assume-role", "-role-arn-template", "deployer"}, wantErr: []string{"-role-arn-template"}},
		{name: "cloudtamer needs its variables and roles", args: []string{"-queue", "q", "-topic-arn", "arn:aws:sns:us-east-1:1:t", "-config-file", "c.json", "-allow-any-sender",
			"-artifacts", "a.json", "-credentials", "cloudtamer"}, env: map[string]string{"CLOUDTAMER_PASSWORD": "hunter2"},
			wantErr: []string{"-cloudtamer-roles", "CLOUDTAMER_BASE_URL", "CLOUDTAMER_USERNAME"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("missing %q in %v", want, err)
				}
			}
			for _, secret := range []string{"hooks.example/secret", "xoxb-secret", "hunter2"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestHelpListsTheEnvironmentOnlySecrets(t *testing.T) {
	var c Config
	var out strings.Builder
	if err := c.Parse([]string{"-h"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-roles", "-slack-routes", "-artifacts-table", "-artifact-db-cli", "-credentials", "ECS_DEPLOY_SLACK_WEBHOOK_URL", "ECS_DEPLOY_SLACK_TOKEN", "CLOUDTAMER_PASSWORD"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %s", want)
		}
	}
	if strings.Contains(out.String(), "-slack-token") || strings.Contains(out.String(), "-slack-webhook") {
		t.Errorf("-h offers a secret as a flag:\n%s", out.String())
	}
}
