package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
	"ecs-deploy/pipeline"
)

// TestLostDynamoDBAnswers: heartbeats and status writes that land but whose
// answer is lost (the SDK's retry then meets the changed record version) do
// not count as a lost lock.
func TestLostDynamoDBAnswers(t *testing.T) {
	dynamo := sharedDynalite(t)
	b := newBed(t, dynamo, bedOptions{})
	lossy := faults.NewInjector(3)
	if err := lossy.Add(faults.Rule{Operation: "UpdateItem", LoseAnswerRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dynamo)
	proxy := httptest.NewServer(faults.NewProxy(u, lossy))
	t.Cleanup(proxy.Close)
	p := b.pipeline(pipeOptions{dynamo: proxy.URL})
	ctx := testContext(t)
	for _, id := range []string{"d-1", "d-2"} {
		if _, err := p.Run(ctx, b.request(id, 2, pipeline.ModeDeploy)); err != nil {
			t.Fatalf("deploy %s: %v", id, err)
		}
		b.checkDeployed(id)
	}
	if lossy.Injected()[faults.LoseAnswer] == 0 {
		t.Fatal("no answer was lost")
	}
}

// neverStable makes the next task sets never reach steady state, and gives
// the rollout all the time in the world: a deploy that stays at step 7.
func neverStable(sd awsim.Seeded) string {
	return withEnv(defaultConfig(sd), sd.Name, map[string]any{"RolloutTimeout": "100h"})
}

// TestLockerCloseWaitsForRunningDeploy: closing a locker does not release
// the lock of a deploy still running; it waits until the deploy has let go.
func TestLockerCloseWaitsForRunningDeploy(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: neverStable})
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultNeverStabilize}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	p := b.pipeline(pipeOptions{})
	locker := b.lockers[len(b.lockers)-1]
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
		done <- err
	}()
	b.waitForStep("d-1", pipeline.StepWaitStable)
	short, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	if err := locker.Close(short); err == nil {
		t.Fatal("Close returned while a deploy still held its lock")
	}
	key := pipeline.LockKey(b.seeded.Name, b.env)
	if it, _, err := locker.Peek(ctx, key); err != nil || it.Released {
		t.Fatalf("the running deploy's lock was released by Close: %+v %v", it, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, pipeline.ErrInterrupted) {
		t.Fatalf("deploy: %v, want ErrInterrupted", err)
	}
	if err := locker.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if it, _, err := locker.Peek(context.Background(), key); err != nil || !it.Released {
		t.Fatalf("lock after the deploy stopped: %+v %v", it, err)
	}
}

// TestLockHeldNamesRealHolder: a request refused for a held lock names the
// deploy that holds it and its step as the lock table says, even when the
// same locker took the lock.
func TestLockHeldNamesRealHolder(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: neverStable})
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultNeverStabilize}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	p := b.pipeline(pipeOptions{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
		done <- err
	}()
	b.waitForStep("d-1", pipeline.StepWaitStable)
	_, err := p.Run(testContext(t), b.request("d-2", 3, pipeline.ModeDeploy))
	var held *pipeline.LockHeldError
	if !errors.As(err, &held) || held.Holder.DeployID != "d-1" || held.Holder.Step != pipeline.StepWaitStable {
		t.Fatalf("err = %v, holder %+v; want d-1 at step 7", err, held)
	}
	cancel()
	<-done
}

// TestPanicInStepIsResumable: a panic inside a step ends the deploy as
// failed at that step, with the lock released, and a resume finishes it.
func TestPanicInStepIsResumable(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepTaskDefinition {
			panic("nil map in step 5")
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepTaskDefinition || !strings.Contains(err.Error(), "panic: nil map in step 5") {
		t.Fatalf("err = %v", err)
	}
	b.checkLockReleased("d-1", pipeline.StateFailed)
	if _, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
}

// TestResumeKeepsItsConfig: a resume runs with the config its deploy
// started with; one that names another is refused with both.
func TestResumeKeepsItsConfig(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	if _, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.BeforeStep, pipeline.StepWaitStable)}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	before := b.status()
	other := b.request("d-1", 2, pipeline.ModeResume)
	other.ConfigSHA = "cfg2"
	_, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, other)
	if !pipeline.Permanent(err) || !strings.Contains(err.Error(), "names config cfg2, but the deploy runs with config cfg1") {
		t.Fatalf("err = %v", err)
	}
	if after := b.status(); !after.UpdatedAt.Equal(before.UpdatedAt) || after.ConfigSHA != "cfg1" {
		t.Fatalf("the refusal changed the status: %+v", after)
	}
	if _, err := b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
}

// TestNewerStatusVersionRefused: a status written by a newer ecs-deploy is
// not acted on: deploys, rollbacks and plans are refused with the version
// needed, and the status stays as it was.
func TestNewerStatusVersionRefused(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	data := []byte(`{"version":99,"deploy_id":"future-1","app":"shop","env":"prod","state":"succeeded","step":12,"goal":{"kind":"new"}}`)
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	if _, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.table), Item: map[string]ddbtypes.AttributeValue{
		"key": s(pipeline.LockKey(b.seeded.Name, b.env)), "data": &ddbtypes.AttributeValueMemberB{Value: data},
		"ownerName": s("daemon-from-the-future"), "recordVersionNumber": s("1"), "leaseDuration": s("1s"), "isReleased": s("1"),
	}}); err != nil {
		t.Fatal(err)
	}
	p := b.pipeline(pipeOptions{})
	for _, req := range []pipeline.Request{b.request("d-1", 2, pipeline.ModeDeploy), b.rollback("r-1")} {
		_, err := p.Run(ctx, req)
		if !errors.Is(err, pipeline.ErrStatusTooNew) || !pipeline.Permanent(err) || !strings.Contains(err.Error(), "status format 99; this daemon knows up to 2") {
			t.Fatalf("%s: err = %v", req.Mode, err)
		}
	}
	if _, err := p.Plan(ctx, b.request("d-1", 2, pipeline.ModePlan)); !errors.Is(err, pipeline.ErrStatusTooNew) {
		t.Fatalf("plan: err = %v", err)
	}
	it, _, err := b.lockers[0].Peek(ctx, pipeline.LockKey(b.seeded.Name, b.env))
	if err != nil || !bytes.Equal(it.Data, data) || !it.Released {
		t.Fatalf("the newer status was touched: %s %+v %v", it.Data, it, err)
	}
	b.servedBySeed()
}

// TestReleaseDeadFencesStalledHolder: a holder that was only stalled when
// its lock was released as dead cannot write to the lock again, and learns
// it lost it; the taker gets the status it wrote last.
func TestReleaseDeadFencesStalledHolder(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	cfg := pipeline.LockConfig{Table: b.table, Lease: 3 * time.Second, Heartbeat: 200 * time.Millisecond}
	newLocker := func(owner string) *pipeline.Locker {
		cfg.Owner = owner
		l, err := pipeline.NewLocker(b.db, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	stalled, taker := newLocker("stalled"), newLocker("taker")
	key := "fence-prod"
	lk, _, _, err := stalled.Acquire(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Abandon()
	want := pipeline.Status{DeployID: "d-1", App: "fence", Env: "prod", State: pipeline.StateRunning, Step: pipeline.StepWaitStable}
	if err := lk.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	it, _, err := taker.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if it.Lease != cfg.Lease {
		t.Fatalf("Peek read the holder's lease as %v, want %v", it.Lease, cfg.Lease)
	}
	// A waiter that judged the holder dead at the version it saw (it
	// was stalled, not dead) releases the lock under it: a request other
	// than the deploy's own, so no release time is recorded.
	if ok, err := taker.ReleaseDead(ctx, key, it.RecordVersion, false); !ok || err != nil {
		t.Fatalf("release at the version just read: %v %v", ok, err)
	}
	if rel, _, _ := taker.Peek(ctx, key); !rel.Released || !rel.ReleasedAt.IsZero() {
		t.Fatalf("released by another request: released %v at %v, want no release time", rel.Released, rel.ReleasedAt)
	}
	later := want
	later.Step = pipeline.StepVerify
	if err := lk.Save(ctx, later); !errors.Is(err, pipeline.ErrLockLost) {
		t.Fatalf("the stalled holder wrote its status to a lock released under it: %v", err)
	}
	if err := lk.Check(); !errors.Is(err, pipeline.ErrLockLost) {
		t.Fatalf("the stalled holder still thinks it holds the lock: %v", err)
	}
	got, st, found, err := taker.Acquire(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release(ctx, st)
	if !found || st.DeployID != "d-1" || st.Step != pipeline.StepWaitStable {
		t.Fatalf("status after the takeover: %+v (found %v)", st, found)
	}
}

// TestReleaseDead: a lock whose holder stopped renewing it is released,
// its status kept, only at the record version seen unchanged; Acquire
// then takes it at once instead of watching it for a lease.
func TestReleaseDead(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	db := b.db
	cfg := pipeline.LockConfig{Table: b.table, Lease: 3 * time.Second, Heartbeat: 200 * time.Millisecond}
	newLocker := func(owner string) *pipeline.Locker {
		cfg.Owner = owner
		l, err := pipeline.NewLocker(db, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	dead, taker := newLocker("dead"), newLocker("taker")
	key := "release-dead-prod"
	lk, _, _, err := dead.Acquire(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Save(ctx, pipeline.Status{DeployID: "d-1", App: "release-dead", Env: "prod", State: pipeline.StateRunning, Step: pipeline.StepWaitStable}); err != nil {
		t.Fatal(err)
	}
	live, _, err := dead.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * cfg.Heartbeat)
	if ok, err := taker.ReleaseDead(ctx, key, live.RecordVersion, true); ok || err != nil {
		t.Fatalf("released a lock still renewed: %v %v", ok, err)
	}
	lk.Abandon()
	time.Sleep(2 * cfg.Heartbeat)
	it, _, err := dead.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := taker.ReleaseDead(ctx, key, it.RecordVersion, true); !ok || err != nil {
		t.Fatalf("the dead holder's lock was not released: %v %v", ok, err)
	}
	if ok, err := taker.ReleaseDead(ctx, key, it.RecordVersion, true); ok || err != nil {
		t.Fatalf("released twice: %v %v", ok, err)
	}
	if rel, _, _ := taker.Peek(ctx, key); !rel.Released || rel.RecordVersion == it.RecordVersion || time.Since(rel.ReleasedAt) > time.Minute {
		t.Fatalf("released lock: released %v at %v, version %q (was %q)", rel.Released, rel.ReleasedAt, rel.RecordVersion, it.RecordVersion)
	}
	start := time.Now()
	got, st, found, err := taker.Acquire(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release(ctx, st)
	if took := time.Since(start); took > cfg.Lease/2 {
		t.Fatalf("Acquire took %v, as if it watched the lock for a lease (%v)", took, cfg.Lease)
	}
	if !found || st.DeployID != "d-1" || st.Step != pipeline.StepWaitStable {
		t.Fatalf("status after the takeover: %+v (found %v)", st, found)
	}
	if it, _, _ := taker.Peek(ctx, key); it.Owner != "taker" || it.Released {
		t.Fatalf("lock after the takeover: owner %q, released %v", it.Owner, it.Released)
	}
}
