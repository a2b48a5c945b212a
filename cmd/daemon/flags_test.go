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
	err := c.Parse([]string{"-roles", "deploy,slack", "-concurrency", "0", "-log-format", "xml"}, func(string) string { return "" }, io.Discard)
	for _, want := range []string{"-queue", "-topic-arn", "config source", "-artifacts", "concurrency", "role \"slack\" is not built yet", "-log-format", "-policy (ECS_DEPLOY_POLICY) is required"} {
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
