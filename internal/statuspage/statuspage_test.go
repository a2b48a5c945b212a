package statuspage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/appstatus"
	"ecs-deploy/pipeline"
)

func ev(id string, t events.Type, step int, at time.Time) events.Event {
	return events.Event{Type: t, DeployID: id, App: "shop", Env: "prod", Mode: "deploy", Build: 7, Step: step, Time: at, RequestedBy: "alice"}
}

func TestRecentKeepsTheLatestDeploysAndTheirSteps(t *testing.T) {
	r := NewRecent(RecentConfig{Deploys: 2, Events: 5})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"a", "b", "c"} {
		at := base.Add(time.Duration(i) * time.Minute)
		r.Record(ev(id, events.DeployStarted, 0, at))
		r.Record(ev(id, events.StepStarted, 7, at.Add(time.Second)))
		r.Record(ev(id, events.StepFailed, 7, at.Add(3*time.Second)))
		r.Record(ev(id, events.DeployFailed, 0, at.Add(4*time.Second)))
	}
	// A bake interrupted by a rollback, and more events than kept.
	r.Record(ev("c", events.StepStarted, 11, base.Add(5*time.Minute)))
	r.Record(ev("c", events.StepStarted, 9, base.Add(6*time.Minute)))
	var sink pipeline.Sink = r.Sink(&pipeline.MemorySink{})
	if err := sink.Publish(context.Background(), ev("c", events.StepSucceeded, 9, base.Add(7*time.Minute))); err != nil {
		t.Fatal(err)
	}
	ds := r.Deploys()
	if len(ds) != 2 || ds[0].ID != "c" || ds[1].ID != "b" {
		t.Fatalf("deploys %+v, want c then b", ds)
	}
	c := ds[0]
	if len(c.Events) != 5 || c.Dropped != 2 || c.RequestedBy != "alice" || c.Build != 7 || c.Final != events.DeployFailed {
		t.Fatalf("deploy c: %+v", c)
	}
	var runs []string
	for _, run := range c.Runs {
		runs = append(runs, fmt.Sprintf("%d:%s", run.Step, run.State))
	}
	if got := strings.Join(runs, " "); got != "7:failed 11:interrupted 9:ok" {
		t.Fatalf("runs %s", got)
	}
}

func TestPageShowsAppsAndDeploysEscaped(t *testing.T) {
	r := NewRecent(RecentConfig{})
	at := time.Now()
	r.Record(ev("d1", events.DeployStarted, 0, at))
	r.Record(ev("d1", events.StepStarted, 2, at))
	r.Record(ev("d1", events.StepSucceeded, 2, at.Add(time.Second)))
	bad := ev("d1", events.DeploySucceeded, 0, at.Add(2*time.Second))
	bad.Message = `<script>alert(1)</script>`
	r.Record(bad)
	p := &Page{Recent: r, Status: func(context.Context) ([]appstatus.AppEnv, error) {
		return []appstatus.AppEnv{{App: "shop", Env: "prod", Serving: "green",
			ServingTaskSet: &appstatus.TaskSet{TaskDefinition: "shop:4", Build: 7, Status: "PRIMARY"}}}, nil
	}}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body, _ := io.ReadAll(rec.Body)
	html := string(body)
	for _, want := range []string{`data-app="shop"`, `data-serving="green"`, "shop:4", `data-deploy-id="d1"`, `data-final="deploy.succeeded"`,
		`data-step="2" data-state="ok"`, "&lt;script&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("page carries an unescaped script")
	}
	rec = httptest.NewRecorder()
	p.JSON().ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var out struct {
		Apps    []appstatus.AppEnv `json:"apps"`
		Deploys []Deploy           `json:"deploys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Apps) != 1 || len(out.Deploys) != 1 || len(out.Deploys[0].Runs) != 1 {
		t.Fatalf("status.json: %v %s", err, rec.Body.String())
	}
}
