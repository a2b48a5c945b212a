package iam

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/sandbox"
	"ecs-deploy/internal/slack"
	"ecs-deploy/internal/testbed"
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
		"ecs:TagResource": "authorizes the tags CreateTaskSet and RegisterTaskDefinition carry (condition ecs:CreateAction); no TagResource call is made",
		"iam:PassRole":    "authorizes the taskRoleArn and executionRoleArn of RegisterTaskDefinition; IAM checks it, nothing calls it",
		"sts:AssumeRole":  "credentials in assume-role mode (internal/credentials), for target accounts; the sandbox has one account",
	},
	"enqueue": {
		"sqs:SetQueueAttributes": "the queue policy -wait sets so the topic may deliver; goaws refuses queue policies, so the test runs with ECS_DEPLOY_NO_QUEUE_POLICY",
		"sts:AssumeRole":         "enqueue status -assume-role, for other accounts",
	},
	"slack": {},
	"artifactdb": {
		"dynamodb:GetItem":            "reads the build when a result is refused because a later one is there (an event delivered out of order); here the events come in order",
		"sqs:ChangeMessageVisibility": "renews a message's visibility while the store answers slowly (every third of -visibility-timeout); the stand-in answers at once",
	},
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
// the reason). Each role is the daemon run as a process with -roles: the
// deploy role through a rejected request, two deploys, a crash at step 7
// and a rollback, with ArtifactDB in a DynamoDB table; the slack role
// (webhook mode, threads in DynamoDB, a Slack that answers slowly once) and
// the artifactdb role then catch up on their queues, each rejecting a
// malformed event to its dead-letter queue. The enqueue role is the CLI
// registering builds, sending the requests with -wait, and enqueue status.
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
	if err := (slack.DynamoThreads{Table: "SlackThreads"}).CreateTable(ctx, setupDB); err != nil {
		t.Fatal(err)
	}
	if err := (artifactdb.Dynamo{Table: "Artifacts"}).CreateTable(ctx, setupDB); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := sandbox.WriteFiles(dir, []awsim.Seeded{stack.Seeded["shop"]}, sandbox.FilesConfig{BakeTime: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	daemonBin, enqueueBin := testbed.Command(t, "daemon"), testbed.Command(t, "enqueue")
	common := []string{"-topic-arn", res.TopicArn, "-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "200ms",
		"-lock-lease", "3s", "-lock-heartbeat", "500ms", "-visibility-timeout", "3s", "-log-format", "json"}

	// The enqueue role: CI registers builds (once more with a tag, as a
	// rerun would), requests with -wait, then status.
	enqueue := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, enqueueBin, args...)
		cmd.Env = append(envFor(stack, keys["enqueue"]), "ECS_DEPLOY_QUEUE="+names.Queue, "ECS_DEPLOY_TOPIC_ARN="+res.TopicArn,
			"ECS_DEPLOY_NO_QUEUE_POLICY=true", "ECS_DEPLOY_ARTIFACTS_TABLE=Artifacts", "USER=iam-test")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("enqueue %v: exit %d, want %d\n%s", args, code, want, out)
		}
		return string(out)
	}
	for b := 1; b <= 3; b++ {
		enqueue(0, "artifact", "register", "-project", "shop", "-build", strconv.Itoa(b), "-image", fmt.Sprintf("shop:build-%d", b),
			"-tag", "SHA="+sandbox.BuildSHA("shop", b))
	}
	enqueue(0, "artifact", "register", "-project", "shop", "-build", "1", "-image", "shop:build-1", "-tag", "SHA="+sandbox.BuildSHA("shop", 1), "-tag", "branch=main")

	// The deploy role.
	stopDeployer := startRole(t, daemonBin, dir, "deploy", envFor(stack, keys["deploy"]), append([]string{"-roles", "deploy", "-queue", names.Queue,
		"-config-file", files.Config, "-artifacts-table", "Artifacts", "-allow-any-sender"}, common...)...)
	deploy := []string{"-app", "shop", "-env", "prod", "-wait", "-timeout", "60s"}
	enqueue(3, append(deploy, "-build", "1", "-config-sha", "0000000000000000000000000000000000000000")...) // rejected: dead-lettered
	enqueue(0, append(deploy, "-build", "1")...)
	if err := stack.Sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit}); err != nil {
		t.Fatal(err)
	}
	enqueue(1, append(deploy, "-build", "3")...) // its tasks crash: step 7 fails
	stack.Sim.ClearTaskSetFaults()
	enqueue(0, append(deploy, "-sha", sandbox.BuildSHA("shop", 2), "-start-over")...) // found by its SHA tag
	enqueue(0, append(deploy, "-rollback")...)
	if out := enqueue(0, "status", "-config", files.Config); !strings.Contains(out, "build 1 (shop:build-1)") {
		t.Errorf("enqueue status after the rollback:\n%s", out)
	}
	stopDeployer()

	// A malformed event on the topic: each role rejects it to its
	// dead-letter queue.
	if _, err := sns.NewFromConfig(setup).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(res.TopicArn), Message: aws.String("not an event"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"event_type": {DataType: aws.String("String"), StringValue: aws.String("deploy.failed")}}}); err != nil {
		t.Fatal(err)
	}

	// The slack and artifactdb roles catch up on their queues. Slack
	// answers the first post slowly, so the message's visibility is renewed.
	var slow sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slow.Do(func() { time.Sleep(1500 * time.Millisecond) })
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(hook.Close)
	sqsSetup := sqs.NewFromConfig(setup)
	for _, r := range []struct {
		role, queue string
		env         []string
		args        []string
	}{
		{"slack", res.SlackQueueURL, []string{"ECS_DEPLOY_SLACK_WEBHOOK_URL=" + hook.URL + "/services/T0/B0/secret"}, []string{"-slack-threads-table", "SlackThreads"}},
		{"artifactdb", res.ArtifactDBQueueURL, nil, []string{"-artifacts-table", "Artifacts"}},
	} {
		stop := startRole(t, daemonBin, dir, r.role, append(envFor(stack, keys[r.role]), r.env...), append(append([]string{"-roles", r.role}, r.args...), common...)...)
		waitDrained(t, sqsSetup, r.queue)
		stop()
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

// startRole runs the daemon as a process playing a role and waits until it
// is ready; the returned func stops it (SIGTERM) and is also a cleanup.
func startRole(t *testing.T, bin, dir, role string, env []string, args ...string) func() {
	t.Helper()
	port := testbed.FreePort(t)
	cmd := exec.Command(bin, append(args, "-listen", "127.0.0.1:"+strconv.Itoa(port))...)
	cmd.Env = env
	logPath := filepath.Join(dir, role+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	stop := sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", role, tail(string(b), 4000))
		}
	})
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz", exited, logPath)
	return stop
}

// waitDrained waits until a queue holds no message, visible or not.
func waitDrained(t *testing.T, c *sqs.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds messages after 30s: %v", url, out.Attributes)
		}
		time.Sleep(100 * time.Millisecond)
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

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveCommands()
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
