package rig

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"ecs-deploy/events"
)

func TestSignedBy(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDRIGDAEMON/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=abc")
	if key, svc := signedBy(r); key != DaemonKey || svc != "elasticloadbalancing" {
		t.Fatalf("signed by %q for %q", key, svc)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ p, want float64 }{{50, 3}, {99, 5}, {0, 1}, {20, 1}, {21, 2}} {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("no values")
	}
}

// TestRigDeploys: a daemon on a rig deploys a request; the rig has seen
// its events with their send time, its lock's states, and its calls by
// service, and Close stops the daemon.
func TestRigDeploys(t *testing.T) {
	ctx := t.Context()
	r, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.NewStage(ctx, StageConfig{Name: "rig-test", Apps: 1, Prefix: "rt", TimeScale: 100, Visibility: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.StartDaemon(ctx, "d", "-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "100ms", "-order-window", "100ms")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := r.Send(ctx, s.Queue, Request("rig-1", "rt1", 2, events.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := contextWithTimeout(t, time.Minute)
	defer cancel()
	final, err := r.Events.WaitFor(wait, "the end of rig-1", Final("rig-1"))
	if err != nil {
		t.Fatal(err)
	}
	if final.Type != events.DeploySucceeded || final.At.Before(sent.At) {
		t.Fatalf("final event %+v, sent at %v", final, sent.At)
	}
	var held bool
	for _, st := range r.Locks.All() {
		// A state its holding's own save left: the full owner names the
		// run the status names, and the write that set the version is known.
		if st.Key == "rt1-prod" && st.Owner == d.Name && st.Holding == d.Name+"/"+st.Status.RunID && !st.Written.IsZero() &&
			!st.Written.After(st.At) && st.Status.DeployID == "rig-1" && !st.Released {
			held = true
		}
	}
	if !held {
		t.Fatalf("no state of rt1-prod saved by a holding of %s for rig-1 in %d states", d.Name, len(r.Locks.All()))
	}
	calls := r.Calls.ByService(Between(DaemonKey, sent.At, final.At))
	for _, svc := range []string{"ecs", "elasticloadbalancing", "dynamodb", "sns", "sqs"} {
		if calls[svc] == 0 {
			t.Errorf("no %s call counted: %v", svc, calls)
		}
	}
	// The message is deleted once the final event is out.
	for n := -1; n != 0; time.Sleep(100 * time.Millisecond) {
		if n, err = r.Depth(wait, s.Queue.URL); err != nil {
			t.Fatalf("the request's message is still queued: %d (%v)", n, err)
		}
	}
	pid := d.Pid()
	r.Close()
	if d.Running() || syscall.Kill(pid, 0) == nil {
		t.Fatal("the daemon still runs after Close")
	}
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
