package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/pipeline"
)

var tEnd = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func eventMessage(t *testing.T, e events.Event) *message.Message {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage("m-"+string(e.Type), b)
	msg.SetContext(t.Context())
	return msg
}

func finalEvent(typ events.Type, mode string, at time.Time) events.Event {
	return events.Event{Schema: events.EventSchema, Type: typ, Time: at, DeployID: "d-1", App: "shop", Env: "dev", Mode: mode,
		Artifact: "shop:1", Build: 1, ConfigSHA: "0123456789abcdef", Project: "shop-project"}
}

func TestRecordResults(t *testing.T) {
	cases := []struct {
		name   string
		events []events.Event
		want   string // the deploy-dev tag afterwards; "" for none
	}{
		{"success", []events.Event{finalEvent(events.DeploySucceeded, "deploy", tEnd)}, "success"},
		{"failure", []events.Event{finalEvent(events.DeployFailed, "resume", tEnd)}, "failure"},
		{"rolled back is a failure", []events.Event{finalEvent(events.DeployRolledBack, "start-over", tEnd)}, "failure"},
		{"redelivered", []events.Event{finalEvent(events.DeploySucceeded, "", tEnd), finalEvent(events.DeploySucceeded, "", tEnd)}, "success"},
		{"a late failure after a later success", []events.Event{
			finalEvent(events.DeploySucceeded, "deploy", tEnd), finalEvent(events.DeployFailed, "deploy", tEnd.Add(-time.Minute))}, "success"},
		{"plan, rollback and abort are not deploys", []events.Event{
			finalEvent(events.DeploySucceeded, "plan", tEnd), finalEvent(events.DeploySucceeded, "rollback", tEnd),
			finalEvent(events.DeployFailed, "abort", tEnd)}, ""},
		{"step and start events record nothing", []events.Event{
			finalEvent(events.DeployStarted, "deploy", tEnd), finalEvent(events.StepFailed, "deploy", tEnd)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := artifactdb.File{Path: filepath.Join(t.TempDir(), "artifacts.json")}
			if err := store.Register(t.Context(), "shop-project", pipeline.Artifact{BuildNumber: 1, Value: "shop:1", Tags: map[string]string{"SHA": "abc"}}); err != nil {
				t.Fatal(err)
			}
			h := RecordResults{Store: store}
			for _, e := range c.events {
				if err := h.Handle(eventMessage(t, e)); err != nil {
					t.Fatalf("%s: %v", e.Type, err)
				}
			}
			a, err := store.GetBuild(t.Context(), "shop-project", 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Tags["deploy-dev-01234567"]; got != c.want {
				t.Fatalf("deploy-dev-01234567 = %q, want %q (tags %v)", got, c.want, a.Tags)
			}
		})
	}
}

func TestRecordResultsRejects(t *testing.T) {
	store := artifactdb.File{Path: filepath.Join(t.TempDir(), "artifacts.json")}
	h := RecordResults{Store: store}
	noProject := finalEvent(events.DeploySucceeded, "deploy", tEnd)
	noProject.Project = ""
	unknownBuild := finalEvent(events.DeploySucceeded, "deploy", tEnd)
	for name, msg := range map[string]*message.Message{
		"not JSON":         message.NewMessage("m-1", []byte("{")),
		"another schema":   eventMessage(t, events.Event{Schema: "other/v9", Type: events.DeploySucceeded, DeployID: "d-1"}),
		"no project":       eventMessage(t, noProject),
		"an unknown build": eventMessage(t, unknownBuild),
	} {
		if err := h.Handle(msg); !Rejected(err) {
			t.Errorf("%s: %v; want it rejected", name, err)
		}
	}
	// The project comes from the config when the event lacks it.
	if err := store.Register(t.Context(), "from-config", pipeline.Artifact{BuildNumber: 1, Value: "shop:1"}); err != nil {
		t.Fatal(err)
	}
	h.Project = func(context.Context, events.Event) (string, error) { return "from-config", nil }
	if err := h.Handle(eventMessage(t, noProject)); err != nil {
		t.Fatal(err)
	}
	if a, _ := store.GetBuild(t.Context(), "from-config", 1); a.Tags["deploy-dev-01234567"] != "success" {
		t.Fatalf("tags %v", a.Tags)
	}
	// A store that fails passes its error on, for a retry.
	h.Store = failingStore{}
	if err := h.Handle(eventMessage(t, finalEvent(events.DeployFailed, "deploy", tEnd))); err == nil || Rejected(err) {
		t.Fatalf("store failure: %v; want a retryable error", err)
	}
}

type failingStore struct{}

func (failingStore) RecordResult(context.Context, artifactdb.Result) error {
	return errors.New("throttled")
}
