package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := parse([]string{"-resume", "-abort", "-wait", "-o", "yaml"}, env(nil), io.Discard)
	for _, want := range []string{"exclude each other", "-queue", `-o "yaml"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

const config = `{"ConfigRegion":"us-east-1","Apps":{"shop":{"ArtifactDBProjectName":"shop",
 "ContainerDefinitionTemplates":[{"Name":"app","Image":"{{.Artifact.Value}}","PortMappings":[{"ContainerPort":80}]}],
 "Environments":{"prod":{"Cluster":"c","Family":"shop","CPU":"256","Memory":"512","Subnets":["subnet-1"],"ListenerARN":"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2",
 "TargetGroupARNs":{"blue":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1","green":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/2"}}}}}}`

// repo makes a git repository with the config committed and returns the
// file's path and the commit.
func repo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	path := filepath.Join(dir, "deploy-config.json")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-q", "-m", "config")
	return path, git("rev-parse", "HEAD")
}

func TestRequestFromConfig(t *testing.T) {
	path, head := repo(t)
	ctx := t.Context()
	o, err := parse([]string{"-app", "shop", "-env", "prod", "-sha", "abc1234", "-config", path, "-queue", "q"}, env(map[string]string{"USER": "alice"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	req, err := o.request(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if req.ConfigSHA != head || req.RequestedBy != "alice" || req.RequestID == "" || req.EffectiveMode() != events.ModeDeploy {
		t.Fatalf("request %+v", req)
	}
	// An unknown environment and uncommitted changes are caught here.
	o.env = "staging"
	if _, err := o.request(ctx); err == nil || !strings.Contains(err.Error(), "staging") {
		t.Fatalf("unknown env: %v", err)
	}
	o.env = "prod"
	if err := os.WriteFile(path, []byte(config+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := o.request(ctx); err == nil || !strings.Contains(err.Error(), "uncommitted") {
		t.Fatalf("uncommitted config: %v", err)
	}
	o.configSHA = "0123abcd"
	if req, err := o.request(ctx); err != nil || req.ConfigSHA != "0123abcd" {
		t.Fatalf("-config-sha: %+v %v", req, err)
	}
}

func TestRunRefusesBadRequestsBeforeSending(t *testing.T) {
	var out bytes.Buffer
	code, err := run(t.Context(), []string{"-app", "shop", "-env", "prod", "-queue", "q"}, env(nil), &out, io.Discard)
	if code != exitUsage || err == nil || !strings.Contains(err.Error(), "artifact is required") {
		t.Fatalf("exit %d, %v", code, err)
	}
}

func TestPrinter(t *testing.T) {
	var text, js bytes.Buffer
	e := events.Event{Type: events.StepFailed, Step: 7, StepName: "wait for steady state", Error: "task stopped"}
	newPrinter("text", &text).event(e)
	newPrinter("json", &js).event(e)
	if got := text.String(); got != "step 7 wait for steady state: failed: task stopped\n" {
		t.Fatalf("text: %q", got)
	}
	var back events.Event
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Step != 7 {
		t.Fatalf("json: %s %v", js.String(), err)
	}
}

func TestHelpExitsZero(t *testing.T) {
	if code, err := run(t.Context(), []string{"-h"}, env(nil), io.Discard, io.Discard); code != exitOK || err != nil {
		t.Fatalf("-h: exit %d, %v", code, err)
	}
}

// TestUnreachableQueue: no AWS endpoint answers: exit 6, not "failed".
func TestUnreachableQueue(t *testing.T) {
	e := env(map[string]string{})
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "b")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	code, err := run(t.Context(), []string{"-app", "shop", "-env", "prod", "-build", "2", "-queue", "deploy-requests"}, e, io.Discard, io.Discard)
	if code != exitUnreachable || err == nil {
		t.Fatalf("exit %d, %v", code, err)
	}
}

func TestMessageGroupFitsSQS(t *testing.T) {
	long := strings.Repeat("a", 64)
	g := messageGroup(events.Request{App: long, Env: long})
	if len(g) > 128 || !strings.HasPrefix(g, long+"/") {
		t.Fatalf("group %q (%d)", g, len(g))
	}
	if g := messageGroup(events.Request{App: "shop", Env: "prod"}); g != "shop/prod" {
		t.Fatalf("group %q", g)
	}
}

// TestFIFODeduplicationFollowsTheBody: the same request ID with a fixed
// body is a new message on a FIFO queue; the same body is a duplicate.
func TestFIFODeduplicationFollowsTheBody(t *testing.T) {
	req := events.Request{RequestID: "ci-1234", App: "shop", Env: "prod", Build: 4, RequestedBy: "ci"}
	first, _ := sendInput("https://sqs.example/1/q.fifo", req, "c1")
	again, _ := sendInput("https://sqs.example/1/q.fifo", req, "c2")
	req.Build = 5
	fixed, _ := sendInput("https://sqs.example/1/q.fifo", req, "c3")
	if *first.MessageDeduplicationId != *again.MessageDeduplicationId || *first.MessageDeduplicationId == *fixed.MessageDeduplicationId ||
		len(*fixed.MessageDeduplicationId) > 128 || *first.MessageGroupId != "shop/prod" {
		t.Fatalf("dedup IDs %s %s %s", *first.MessageDeduplicationId, *again.MessageDeduplicationId, *fixed.MessageDeduplicationId)
	}
}

// emptyTable answers every GetItem with no item.
type emptyTable struct{ records.DynamoDBAPI }

func (emptyTable) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

// TestWaitInterrupted: Ctrl-C while waiting says "interrupted", exit 130.
func TestWaitInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	var out bytes.Buffer
	code, err := waitForEnd(ctx, time.Minute, events.Request{RequestID: "r-1", App: "shop", Env: "prod"}, "c", nil,
		records.Store{DB: emptyTable{}, Table: "DeployRequests"}, newPrinter("text", &out), io.Discard)
	if code != exitInterrupted || err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("exit %d, %v", code, err)
	}
}
