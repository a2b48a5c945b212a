package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/rig"
)

// rolesKey signs the calls of the daemon playing the slack and artifactdb
// roles, so its ArtifactDB writes are told from the deploy role's.
const rolesKey = "AKIDRIGROLES"

// webhook stands in for Slack's incoming webhook: it keeps what was
// posted, and when.
type webhook struct {
	mu    sync.Mutex
	posts []post
}

type post struct {
	at   time.Time
	body string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.mu.Lock()
	w.posts = append(w.posts, post{at: time.Now(), body: string(b)})
	w.mu.Unlock()
	_, _ = io.WriteString(rw, "ok")
}

// end returns when the message telling that deploy id succeeded came.
func (w *webhook) end(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.posts {
		if strings.Contains(p.body, "deploy "+id) && strings.Contains(p.body, "succeeded") {
			return p.at, true
		}
	}
	return time.Time{}, false
}

// measureFanout runs a deploy daemon and a second daemon playing the slack
// (webhook mode, to a stand-in) and artifactdb (a DynamoDB table) roles,
// both with their defaults, and deploys one app at a time: from
// deploy.succeeded's publish (SNS's answer) to the Slack message telling
// it and the artifactdb role's write of the result, whichever comes last.
// The emulator runs 100 times faster than real time and the deploy role
// polls often: only the deploys' ends matter here.
func measureFanout(ctx context.Context, b *bench) error {
	if !strings.Contains(b.defaults.rolesUsage, "slack") || !strings.Contains(b.defaults.rolesUsage, "artifactdb") {
		b.results.notMeasured("fanout_ms_p99", "", "the daemon does not play the slack and artifactdb roles (-roles: \""+b.defaults.rolesUsage+"\")")
		return nil
	}
	r := b.rig
	s, err := r.NewStage(ctx, rig.StageConfig{Name: "bench-fanout", Apps: 2, Prefix: "fo", TimeScale: 100,
		Visibility: b.defaults.visibility, ArtifactsTable: "bench-artifacts"})
	if err != nil {
		return err
	}
	defer s.Stop(40 * time.Second)
	hook := &webhook{}
	hookURL, err := r.Serve(hook)
	if err != nil {
		return err
	}
	roles := s.Spec("roles", "-roles", "slack,artifactdb", "-create-resources")
	roles.AccessKey, roles.Env = rolesKey, []string{"ECS_DEPLOY_SLACK_WEBHOOK_URL=" + hookURL + "/hook"}
	if _, err := s.Start(ctx, roles); err != nil {
		return err
	}
	if _, err := s.StartDaemon(ctx, "deploy", "-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "100ms"); err != nil {
		return err
	}
	var all, toSlack, toDB []float64
	for i := range b.plan.fanoutDeploys {
		app := s.AppNames[i%len(s.AppNames)]
		id := fmt.Sprintf("fanout-%d", i)
		if _, err := r.Send(ctx, s.Queue, rig.Request(id, app, i/len(s.AppNames)%rig.Builds+1, events.ModeDeploy)); err != nil {
			return err
		}
		wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
		final, err := r.Events.WaitFor(wait, "the end of "+id, rig.Final(id))
		cancel()
		if err != nil {
			return err
		}
		if final.Type != events.DeploySucceeded {
			return fmt.Errorf("deploy %s: %s: %s", id, final.Type, final.Error)
		}
		slackAt, dbAt, err := acted(ctx, r, hook, id, final.At)
		if err != nil {
			return err
		}
		toSlack = append(toSlack, rig.Ms(slackAt.Sub(final.At)))
		toDB = append(toDB, rig.Ms(dbAt.Sub(final.At)))
		last := slackAt
		if dbAt.After(last) {
			last = dbAt
		}
		all = append(all, rig.Ms(last.Sub(final.At)))
	}
	b.results.info("fanout_ms_p99", rig.Percentile(all, 99), "ms",
		fmt.Sprintf("%d deploys; p50 %.0f ms; Slack p50/p99 %.0f/%.0f ms, ArtifactDB %.0f/%.0f ms (SNS to each role's SQS queue, its long poll, its action)",
			len(all), rig.Percentile(all, 50), rig.Percentile(toSlack, 50), rig.Percentile(toSlack, 99), rig.Percentile(toDB, 50), rig.Percentile(toDB, 99)))
	return nil
}

// acted waits until both roles have acted on deploy id's deploy.succeeded,
// published at published: the webhook got the message, and the artifactdb
// role wrote to DynamoDB.
func acted(ctx context.Context, r *rig.Rig, hook *webhook, id string, published time.Time) (slackAt, dbAt time.Time, err error) {
	deadline := time.Now().Add(time.Minute)
	for {
		if slackAt.IsZero() {
			slackAt, _ = hook.end(id)
		}
		if dbAt.IsZero() {
			for _, c := range r.Calls.All() {
				if c.AccessKey == rolesKey && c.Service == "dynamodb" && c.Operation == "UpdateItem" && !c.At.Before(published) {
					dbAt = c.At
					break
				}
			}
		}
		if !slackAt.IsZero() && !dbAt.IsZero() {
			return slackAt, dbAt, nil
		}
		if time.Now().After(deadline) {
			return slackAt, dbAt, fmt.Errorf("deploy %s: the roles did not act within a minute of deploy.succeeded (Slack at %v, ArtifactDB at %v)", id, slackAt, dbAt)
		}
		select {
		case <-ctx.Done():
			return slackAt, dbAt, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
