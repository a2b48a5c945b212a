package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/events"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// The tests of the slack and artifactdb roles and of credentials per
// account (issue 10).

// artifacts reads the ArtifactDB table the daemons use.
func (w *world) artifacts(table string) artifactdb.Dynamo {
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(w.dynamo)})
	return artifactdb.Dynamo{DB: db, Table: table}
}

// waitForTag waits until a build carries a tag with a value.
func (w *world) waitForTag(t *testing.T, store artifactdb.Store, project string, build int, tag, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := store.GetBuild(t.Context(), project, build)
		if err == nil && a.Tags[tag] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %d of %s: tag %s is not %q within 20s: %+v, %v", build, project, tag, want, a.Tags, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForLog waits until a daemon's log has a line holding every one of
// parts.
func waitForLog(t *testing.T, d *daemon, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		for _, line := range strings.Split(string(b), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line of %s holds %q within 20s", d.log, parts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRolesEndToEnd runs three daemons, one per role, on goaws and
// dynalite, with ArtifactDB in a DynamoDB table and Slack stood in for by
// an HTTP server (bot mode, threads kept in DynamoDB). CI registers two
// builds with enqueue artifact register. Prod requires a deploy to staging
// first (RequiresPreviousEnvDeploy):
//
//   - build 1 to prod is refused: staging has not had it;
//   - build 1 to staging succeeds: the success tag is on build 1, and Slack
//     has one message for the deploy, its steps as replies in its thread,
//     and the message updated with the outcome;
//   - build 1 to prod is then allowed, and succeeds;
//   - build 2 to staging fails (its tasks exit): the failure tag is on
//     build 2, and Slack's message names the failing step;
//   - the artifactdb role recorded each result from its queue (the deploy
//     role records them too, before its final events); one that was down
//     during the failed deploy caught up from the queue;
//   - neither the bot token nor the AWS secret reached any daemon's log.
func TestRolesEndToEnd(t *testing.T) {
	const table = "Artifacts"
	w := newWorld(t, worldOptions{apps: []string{"shop", "shopprod"}, artifactsTable: table})
	shop, prod := w.seeded["shop"], w.seeded["shopprod"]
	prodEnv := envConfig(prod)
	prodEnv["RequiresPreviousEnvDeploy"] = "staging"
	w.writeApps(map[string]any{"shop": appConfig("shop", shop, map[string]any{"staging": envConfig(shop), "prod": prodEnv})})
	api := newSlackAPI(t)
	routes := w.writeFile("slack-routes.json", `{"default": {"channel": "#deploys"}}`)

	slackD := w.startDaemonWith("slack", []string{"ECS_DEPLOY_SLACK_TOKEN=" + slackToken},
		"-roles", "slack", "-slack-routes", routes, "-slack-api-url", api.URL+"/api", "-slack-threads-table", "SlackThreads")
	recorder := w.startDaemon("artifactdb", "-roles", "artifactdb")
	deployer := w.startDaemon("deploy", "-roles", "deploy")
	for build := 1; build <= 2; build++ {
		code, out := w.enqueue("artifact", "register", "-project", "shop", "-build", itoa(build),
			"-image", "shop:build-"+itoa(build), "-tag", "SHA=abc"+itoa(build), "-artifacts-table", table)
		if code != 0 || !strings.Contains(out, "registered build "+itoa(build)+" of shop") {
			t.Fatalf("artifact register build %d: exit %d\n%s", build, code, out)
		}
	}
	deploy := func(id, env, sha string) (int, string) {
		t.Helper()
		return w.enqueue("-app", "shop", "-env", env, "-sha", sha, "-request-id", id, "-wait", "-timeout", "90s")
	}

	// Build 1 to prod before staging: refused by the gate.
	code, out := deploy("gate-early", "prod", "abc1")
	if code != 3 || !strings.Contains(out, "has not been deployed to staging") || !strings.Contains(out, "deploy-staging-") {
		t.Fatalf("build 1 to prod before staging: exit %d\n%s", code, out)
	}
	if ts := w.primaryExternalID("shopprod"); ts == "gate-early" {
		t.Fatal("the refused deploy made a task set PRIMARY")
	}

	// Build 1 to staging.
	if code, out := deploy("stage-1", "staging", "abc1"); code != 0 {
		t.Fatalf("build 1 to staging: exit %d\n%s", code, out)
	}
	ok := w.events.waitFor(t, 10*time.Second, "stage-1 succeeded", is("stage-1", events.DeploySucceeded))
	store := w.artifacts(table)
	short := pipeline.ShortConfigSHA(ok.ConfigSHA)
	w.waitForTag(t, store, "shop", 1, "deploy-staging-"+short, "success")

	// Then to prod: allowed.
	if code, out := deploy("prod-1", "prod", "abc1"); code != 0 {
		t.Fatalf("build 1 to prod after staging: exit %d\n%s", code, out)
	}
	w.waitForTag(t, store, "shop", 1, "deploy-prod-"+short, "success")
	if got := w.primaryExternalID("shopprod"); got != "prod-1" {
		t.Fatalf("prod's PRIMARY task set belongs to %q", got)
	}

	// Build 2 to staging: its tasks exit, step 7 fails. The recorder is
	// down meanwhile: a new one catches up from the queue.
	for _, id := range []string{"stage-1", "prod-1"} {
		waitForLog(t, recorder, `"message":"artifactdb: recorded the result"`, `"deploy_id":"`+id+`"`)
	}
	recorder.stop(t)
	firstRecorder := recorder
	if err := w.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit}); err != nil {
		t.Fatal(err)
	}
	if code, out := deploy("stage-2", "staging", "abc2"); code != 1 {
		t.Fatalf("build 2 to staging with crashing tasks: exit %d, want 1\n%s", code, out)
	}
	w.sim.ClearTaskSetFaults()
	w.waitForTag(t, store, "shop", 2, "deploy-staging-"+short, "failure")
	recorder = w.startDaemon("artifactdb-2", "-roles", "artifactdb")
	waitForLog(t, recorder, `"message":"artifactdb: recorded the result"`, `"deploy_id":"stage-2"`, `"outcome":"failure"`)

	// Slack: one message per deploy, steps in its thread, the outcome on
	// the message.
	waitForSlack(t, api, "stage-2", func(th thread) bool { return len(th.updates) > 0 && strings.Contains(last(th.updates).Text, "failed") })
	waitForSlack(t, api, "prod-1", func(th thread) bool {
		return len(th.updates) > 0 && strings.Contains(last(th.updates).Text, "succeeded")
	})
	th, _ := api.threadOf("stage-1")
	if th.first.Channel != "#deploys" || !strings.Contains(th.first.Blocks, "build 1: shop:build-1") || !strings.Contains(th.first.Blocks, short) ||
		!strings.Contains(th.first.Blocks, "e2e") {
		t.Errorf("stage-1's message: channel %s, blocks %s", th.first.Channel, th.first.Blocks)
	}
	steps := 0
	for _, r := range th.replies {
		if strings.Contains(r.Text, "Step ") && strings.Contains(r.Text, " done") {
			steps++
		}
		if r.Channel != th.first.ChannelAnswered {
			t.Errorf("a reply went to %s, not the message's channel %s", r.Channel, th.first.ChannelAnswered)
		}
	}
	if steps != 11 {
		t.Errorf("stage-1's thread has %d step replies, want 11 (steps 2 to 12):\n%+v", steps, th.replies)
	}
	if u := last(th.updates); !strings.Contains(u.Text, "Deploy of shop to staging succeeded") || !strings.Contains(u.Blocks, "Duration") {
		t.Errorf("stage-1's message ends as %q: %s", u.Text, u.Blocks)
	}
	failed, _ := api.threadOf("stage-2")
	if u := last(failed.updates); !strings.Contains(u.Blocks, "Failing step") || !strings.Contains(u.Blocks, "7") {
		t.Errorf("stage-2's message does not name the failing step: %s", u.Blocks)
	}
	refused, found := api.threadOf("gate-early")
	if !found || !strings.Contains(refused.first.Text, "rejected") || !strings.Contains(refused.first.Blocks, "has not been deployed to staging") {
		t.Errorf("the refused deploy's message: %+v", refused.first)
	}
	for _, id := range []string{"gate-early", "stage-1", "prod-1", "stage-2"} {
		if n := api.topLevel(id); n != 1 {
			t.Errorf("%d top-level messages for %s, want 1", n, id)
		}
	}
	for _, d := range []*daemon{slackD, firstRecorder, recorder, deployer} {
		b, err := os.ReadFile(d.log)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{slackToken, secretKey} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s's log holds a secret", filepath.Base(d.log))
			}
		}
	}
}

func last(ps []slackPost) slackPost {
	if len(ps) == 0 {
		return slackPost{}
	}
	return ps[len(ps)-1]
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitForSlack waits until the deploy's thread satisfies ok.
func waitForSlack(t *testing.T, api *slackAPI, deployID string, ok func(thread) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		th, found := api.threadOf(deployID)
		if found && ok(th) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Slack's thread of %s not as wanted within 20s: %+v", deployID, th)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDeployToSecondAccount deploys to an environment in another account
// through the emulator's STS. The daemon's own credentials are of the
// config account; with them (-credentials chain) the deploy is refused
// before anything changes, naming both accounts. With -credentials
// assume-role it assumes the ecs-deploy role of the environment's account:
// the deploy succeeds on that account's service, and its pre-deploy
// command gets the role's keys, not the daemon's. A slack role in webhook
// mode posts the refusal, and the start and end of the deploy, and its log
// never shows the webhook's URL.
func TestDeployToSecondAccount(t *testing.T) {
	const farAccount = "444455556666"
	w := newWorld(t, worldOptions{})
	far, err := w.sim.Account(farAccount)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := far.Seed(awsim.Scenario{Name: "far"})
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(w.dir, "command-keys")
	env := envConfig(sd)
	env["AccountID"] = farAccount
	app := appConfig("far", sd, map[string]any{"prod": env})
	app["PreDeployCommandTemplates"] = []any{sh(`echo "$AWS_ACCESS_KEY_ID" > ` + keys)}
	w.writeApps(map[string]any{"far": app})
	w.writeFile("artifacts.json", artifacts([]string{"far"}))
	const hookPath = "/services/T0E2E/B0E2E/webhooksecretpart"
	var mu sync.Mutex
	var posted []string
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		if r.URL.Path != hookPath || json.NewDecoder(r.Body).Decode(&m) != nil {
			http.Error(rw, "no such hook", http.StatusNotFound)
			return
		}
		mu.Lock()
		posted = append(posted, m.Text)
		mu.Unlock()
		fmt.Fprint(rw, "ok")
	}))
	t.Cleanup(hook.Close)
	notifier := w.startDaemonWith("slack-webhook", []string{"ECS_DEPLOY_SLACK_WEBHOOK_URL=" + hook.URL + hookPath}, "-roles", "slack")

	chain := w.startDaemon("chain")
	code, out := w.enqueue("-app", "far", "-env", "prod", "-build", "1", "-request-id", "far-chain", "-wait", "-timeout", "60s")
	if code != 3 || !strings.Contains(out, "account "+farAccount) || !strings.Contains(out, "account 123456789012") {
		t.Fatalf("deploy with the daemon's own credentials: exit %d, want 3 naming both accounts\n%s", code, out)
	}
	if n := far.CallCounts()["CreateTaskSet"]; n != 0 {
		t.Fatalf("the refused deploy created %d task sets", n)
	}
	chain.stop(t)

	w.startDaemon("assume-role", "-credentials", "assume-role", "-role-arn-template", "arn:aws:iam::{{.Account}}:role/ecs-deploy")
	if code, out := w.enqueue("-app", "far", "-env", "prod", "-build", "2", "-request-id", "far-role", "-wait", "-timeout", "60s"); code != 0 {
		t.Fatalf("deploy with the assumed role: exit %d\n%s", code, out)
	}
	primary := ""
	for _, ts := range far.TaskSets(sd.Cluster, sd.Service) {
		if ts.Status == "PRIMARY" {
			primary = ts.ExternalID
		}
	}
	if primary != "far-role" {
		t.Fatalf("the second account's PRIMARY task set belongs to %q", primary)
	}
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if key := strings.TrimSpace(string(b)); !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("the pre-deploy command ran with access key %q, want the assumed role's (ASIA...)", key)
	}

	want := []string{"Deploy of far to prod rejected", "Deploy of far to prod in progress", "Deploy of far to prod succeeded"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(posted, "\n")
		mu.Unlock()
		missing := ""
		for _, text := range want {
			if !strings.Contains(got, text) {
				missing = text
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never got %q; it got:\n%s", missing, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, err := os.ReadFile(notifier.log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "webhooksecretpart") || strings.Contains(string(log), secretKey) {
		t.Fatal("the slack role's log shows its webhook URL or the AWS secret")
	}
}
