package iam

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/sandbox"
	"ecs-deploy/internal/slack"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/internal/testbed"
	"ecs-deploy/pipeline"
)

// Each role signs with its own access key, so the stand-ins can tell who
// made each call.
var keys = map[string]string{
	"deploy": "AKIDDEPLOYROLE", "slack": "AKIDSLACKROLE", "artifactdb": "AKIDARTIFACTDBROLE", "enqueue": "AKIDENQUEUEROLE",
	"setup": "AKIDOPERATOR",
}

// implied are the actions a policy allows that no call of the role names:
// IAM checks them on other calls, or the code makes them only where the
// sandbox cannot (AWS itself, other accounts).
var implied = map[string]map[string]string{
	"deploy": {
		"ecs:TagResource":       "authorizes the tags CreateTaskSet and RegisterTaskDefinition carry (condition ecs:CreateAction); no TagResource call is made",
		"iam:PassRole":          "authorizes the taskRoleArn and executionRoleArn of RegisterTaskDefinition; IAM checks it, nothing calls it",
		"sts:AssumeRole":        "credentials in assume-role mode (internal/credentials), for target accounts; the sandbox has one account",
		"sts:GetCallerIdentity": "the account check of internal/credentials, made when the daemon checks each environment's account",
	},
	"enqueue": {
		"sqs:SetQueueAttributes": "the queue policy -wait sets so the topic may deliver; goaws refuses queue policies, so the test runs with ECS_DEPLOY_NO_QUEUE_POLICY",
		"sts:AssumeRole":         "enqueue status -assume-role, for other accounts",
	},
	"slack":      {},
	"artifactdb": {},
}

type recorder struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // access key -> actions
}

func (r *recorder) add(c sandbox.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[c.AccessKey] == nil {
		r.seen[c.AccessKey] = map[string]bool{}
	}
	r.seen[c.AccessKey][c.Action] = true
}

func (r *recorder) actions(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range r.seen[key] {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// TestPoliciesMatchWhatEachRoleCalls plays each role against the sandbox's
// stand-ins, every call signed with the role's own key, and compares the
// actions seen with the role's policy: each action seen must be allowed,
// and each action allowed must be seen or be implied (listed above with
// the reason). The deploy role is the daemon, run as a process, through a
// rejected request, two deploys, a crash at step 7 and a rollback; the
// enqueue role is the CLI sending them with -wait, and enqueue status; the
// slack and artifactdb roles consume their queues as the daemon's
// subscriber does and use their DynamoDB stores (the daemon does not run
// those roles yet: when it does, run it with -roles instead).
func TestPoliciesMatchWhatEachRoleCalls(t *testing.T) {
	rec := &recorder{seen: map[string]map[string]bool{}}
	stack, err := sandbox.StartStack(sandbox.StackConfig{Apps: []string{"shop"}, OnCall: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	for _, kv := range stack.Endpoints() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "/dev/null")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := t.Context()
	names := sandbox.DefaultNames()
	setup := configFor(t, keys["setup"])
	res, err := sandbox.Provision(ctx, setup, names, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	setupDB := dynamodb.NewFromConfig(setup)
	threads := slack.DynamoThreads{DB: dynamodb.NewFromConfig(configFor(t, keys["slack"])), Table: "SlackThreads"}
	if err := (slack.DynamoThreads{Table: threads.Table}).CreateTable(ctx, setupDB); err != nil {
		t.Fatal(err)
	}
	results := artifactdb.Dynamo{DB: dynamodb.NewFromConfig(configFor(t, keys["artifactdb"])), Table: "Artifacts"}
	if err := (artifactdb.Dynamo{Table: results.Table}).CreateTable(ctx, setupDB); err != nil {
		t.Fatal(err)
	}
	if err := (artifactdb.Dynamo{DB: setupDB, Table: results.Table}).Register(ctx, "shop", pipeline.Artifact{BuildNumber: 1, Value: "shop:build-1", Tags: map[string]string{"SHA": "abc1"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := sandbox.WriteFiles(dir, []awsim.Seeded{stack.Seeded["shop"]}, sandbox.FilesConfig{BakeTime: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	daemonBin, enqueueBin := build(t)

	// The deploy role: the daemon.
	port := testbed.FreePort(t)
	daemon := exec.Command(daemonBin, "-queue", names.Queue, "-topic-arn", res.TopicArn, "-config-file", files.Config, "-artifacts", files.Artifacts,
		"-listen", "127.0.0.1:"+strconv.Itoa(port), "-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "200ms",
		"-lock-lease", "3s", "-lock-heartbeat", "500ms", "-visibility-timeout", "3s", "-allow-any-sender", "-log-format", "json")
	daemon.Env = envFor(stack, keys["deploy"])
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	stopDaemon := sync.OnceFunc(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = daemon.Process.Kill()
			<-exited
		}
	})
	t.Cleanup(stopDaemon)
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz", exited, logPath)

	// The enqueue role: requests with -wait, then status.
	enqueue := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, enqueueBin, args...)
		cmd.Env = append(envFor(stack, keys["enqueue"]), "ECS_DEPLOY_QUEUE="+names.Queue, "ECS_DEPLOY_TOPIC_ARN="+res.TopicArn,
			"ECS_DEPLOY_NO_QUEUE_POLICY=true", "USER=iam-test")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("enqueue %v: exit %d, want %d\n%s\ndaemon log:\n%s", args, code, want, out, tail(string(b), 4000))
		}
		return string(out)
	}
	deploy := []string{"-app", "shop", "-env", "prod", "-wait", "-timeout", "60s"}
	enqueue(3, append(deploy, "-build", "1", "-config-sha", "0000000000000000000000000000000000000000")...) // rejected: dead-lettered
	enqueue(0, append(deploy, "-build", "1")...)
	if err := stack.Sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit}); err != nil {
		t.Fatal(err)
	}
	enqueue(1, append(deploy, "-build", "3")...) // its tasks crash: step 7 fails
	stack.Sim.ClearTaskSetFaults()
	enqueue(0, append(deploy, "-build", "2", "-start-over")...)
	enqueue(0, append(deploy, "-rollback")...)
	if out := enqueue(0, "status", "-config", files.Config); !strings.Contains(out, "build 1 (shop:build-1)") {
		t.Errorf("enqueue status after the rollback:\n%s", out)
	}
	stopDaemon()

	// The slack and artifactdb roles.
	consume(t, configFor(t, keys["slack"]), names.SlackQueue, rec, keys["slack"])
	if err := threads.Put(ctx, "deploy-1", slack.Thread{Channel: "C1", TS: "1.2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := threads.Get(ctx, "deploy-1"); err != nil {
		t.Fatal(err)
	}
	consume(t, configFor(t, keys["artifactdb"]), names.ArtifactDBQueue, rec, keys["artifactdb"])
	now := time.Now()
	if err := results.RecordResult(ctx, artifactdb.Result{Project: "shop", Build: 1, Env: "prod", ConfigSHA: "c1", Outcome: artifactdb.Success, EndedAt: now}); err != nil {
		t.Fatal(err)
	}
	// An older result after a newer one: refused, then read to tell why.
	if err := results.RecordResult(ctx, artifactdb.Result{Project: "shop", Build: 1, Env: "prod", ConfigSHA: "c1", Outcome: artifactdb.Failure, EndedAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}

	for _, role := range Roles {
		p, err := Load(role)
		if err != nil {
			t.Fatal(err)
		}
		allowed := p.Actions()
		seen := rec.actions(keys[role])
		t.Logf("%s: seen %s", role, strings.Join(seen, " "))
		for _, a := range seen {
			if !slices.Contains(allowed, a) {
				t.Errorf("%s role called %s, which %s.json does not allow", role, a, role)
			}
		}
		for _, a := range allowed {
			if !slices.Contains(seen, a) && implied[role][a] == "" {
				t.Errorf("%s.json allows %s, which the %s role was never seen to call and which is not implied", role, a, role)
			}
		}
		for a := range implied[role] {
			if !slices.Contains(allowed, a) {
				t.Errorf("%s: implied action %s is not in %s.json", role, a, role)
			}
		}
	}
}

// consume receives one message from a role's queue as the daemon's
// subscriber does, acks it, and waits until the subscriber has deleted it.
// (A handler error nacks a message: the subscriber then makes no call and
// SQS delivers it again once its visibility timeout ends.)
func consume(t *testing.T, cfg aws.Config, queue string, rec *recorder, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	url, err := sqsx.QueueURL(ctx, sqs.NewFromConfig(cfg), queue)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := wsqs.NewSubscriber(wsqs.SubscriberConfig{AWSConfig: cfg, DoNotCreateQueueIfNotExists: true, QueueUrlResolver: sqsx.ResolvedURL{},
		GenerateReceiveMessageInput: sqsx.ReceiveInput(1), Unmarshaler: sqsx.Unmarshaler{}}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		m.Ack()
	case <-ctx.Done():
		t.Fatalf("no message on %s", queue)
	}
	for !slices.Contains(rec.actions(key), "sqs:DeleteMessage") {
		select {
		case <-ctx.Done():
			t.Fatalf("the message from %s was never deleted", queue)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// configFor is an SDK configuration signed with key that reaches the
// stack through the AWS_ENDPOINT_URL_<SERVICE> variables, as the commands'
// configurations do.
func configFor(t *testing.T, key string) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, "secret-"+key, "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func envFor(s *sandbox.Stack, key string) []string {
	return append(s.Endpoints(), "AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY=secret-"+key, "AWS_REGION="+s.Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"PATH="+os.Getenv("PATH"), "HOME="+os.TempDir())
}

var bins struct {
	once            sync.Once
	daemon, enqueue string
	err             error
}

func build(t *testing.T) (string, string) {
	t.Helper()
	bins.once.Do(func() {
		root, err := testbed.Root()
		if err != nil {
			bins.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ecs-deploy-iam")
		if err != nil {
			bins.err = err
			return
		}
		for name, out := range map[string]*string{"daemon": &bins.daemon, "enqueue": &bins.enqueue} {
			*out = filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-o", *out, "./cmd/"+name)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("build %s: %v\n%s", name, err, b)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.daemon, bins.enqueue
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.daemon != "" {
		os.RemoveAll(filepath.Dir(bins.daemon))
	}
	os.Exit(code)
}

func waitReady(t *testing.T, url string, exited chan error, logPath string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("daemon exited (%v):\n%s", err, b)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("daemon not ready within 30s")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
