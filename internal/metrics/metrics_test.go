package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
	"ecs-deploy/pipeline"
)

// TestOldestMessageForgetsReleasedMessages: a message the daemon no longer
// holds, whatever the outcome, leaves the oldest-message gauge.
func TestOldestMessageForgetsReleasedMessages(t *testing.T) {
	m := New(prometheus.NewRegistry())
	msg := message.NewMessage("m-1", nil)
	msg.Metadata.Set(handlers.MetaSentTimestamp, "1000")
	m.Started(msg)
	if testutil.ToFloat64(m.oldest) == 0 {
		t.Fatal("a held message is not counted")
	}
	m.Finished(msg, "interrupted")
	if got := testutil.ToFloat64(m.oldest); got != 0 {
		t.Fatalf("oldest = %v after the message was released", got)
	}
}

// TestStepStateIsBounded: step starts go when the deploy ends, and those of
// deploys that never ended go after a day.
func TestStepStateIsBounded(t *testing.T) {
	m := New(prometheus.NewRegistry())
	sink := m.Sink(&pipeline.MemorySink{})
	ctx := context.Background()
	t0 := time.Now().Add(-48 * time.Hour)
	for _, e := range []events.Event{
		{Type: events.StepStarted, DeployID: "crashed", StepName: "verify", Time: t0},
		{Type: events.StepStarted, DeployID: "d-1", StepName: "swap", Time: time.Now()},
		{Type: events.StepSucceeded, DeployID: "d-1", StepName: "swap", Time: time.Now()},
		{Type: events.StepStarted, DeployID: "d-1", StepName: "bake", Time: time.Now()},
	} {
		_ = sink.Publish(ctx, e)
	}
	if n := m.trackedSteps(); n != 1 {
		t.Fatalf("%d step starts kept, want d-1's bake only", n)
	}
	_ = sink.Publish(ctx, events.Event{Type: events.DeployFailed, DeployID: "d-1", Time: time.Now()})
	if n := m.trackedSteps(); n != 0 {
		t.Fatalf("%d step starts kept after the deploy ended", n)
	}
}
