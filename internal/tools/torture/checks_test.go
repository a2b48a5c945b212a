package main

import (
	"strings"
	"testing"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
	"ecs-deploy/pipeline"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func final(id string, typ events.Type, eventID string, ms int) rig.Published {
	return rig.Published{Event: events.Event{DeployID: id, Type: typ, EventID: eventID, App: "a1", Env: "prod", Time: at(ms)}, At: at(ms)}
}

func TestCheckOutcomes(t *testing.T) {
	sent := []sentMessage{{requestID: "r1", messageID: "m1"}, {requestID: "r1", messageID: "m2", copyOf: true},
		{requestID: "bad", messageID: "m3", malformed: true}}
	for _, tc := range []struct {
		name   string
		finals []rig.Published
		ok     bool
		says   string
	}{
		{"one outcome, copies alike", []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("r1", events.DeploySucceeded, "e1", 2),
			final("bad", events.DeployRejected, "e2", 3)}, true, "1 copies"},
		{"a rejection decided again", []rig.Published{final("r1", events.DeployRejected, "e1", 1), final("r1", events.DeployRejected, "e3", 2),
			final("bad", events.DeployRejected, "e2", 3)}, true, "1 rejections decided again"},
		{"no outcome", []rig.Published{final("bad", events.DeployRejected, "e2", 3)}, false, "no final event for 1: r1"},
		{"malformed that ran", []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("bad", events.DeploySucceeded, "e2", 3)},
			false, "malformed but not rejected"},
		{"copies that differ", []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("r1", events.DeploySucceeded, "e9", 2),
			final("bad", events.DeployRejected, "e2", 3)}, false, "two outcomes: r1"},
		{"two outcomes", []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("r1", events.DeployFailed, "e1", 2),
			final("bad", events.DeployRejected, "e2", 3)}, false, "two outcomes: r1"},
		{"rejected after it ran", []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("r1", events.DeployRejected, "e4", 2),
			final("bad", events.DeployRejected, "e2", 3)}, false, "then rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkOutcomes(sent, tc.finals)
			if c.ok != tc.ok || !strings.Contains(c.detail, tc.says) {
				t.Fatalf("ok %v, %q; want ok %v saying %q", c.ok, c.detail, tc.ok, tc.says)
			}
		})
	}
}

func state(ms int, key, owner, version string, released bool, deploy string) rig.LockState {
	return rig.LockState{At: at(ms), Key: key, Owner: owner, RecordVersion: version, Released: released, Status: pipeline.Status{DeployID: deploy}}
}

func TestCheckExclusive(t *testing.T) {
	lease := 3 * time.Second
	for _, tc := range []struct {
		name   string
		states []rig.LockState
		ok     bool
	}{
		{"released, then taken", []rig.LockState{state(0, "k", "a", "v1", false, "d1"), state(400, "k", "a", "v2", false, "d1"),
			state(500, "k", "a", "v2", true, "d1"), state(600, "k", "b", "v3", false, "d2")}, true},
		{"a dead holder's lock released after a lease", []rig.LockState{state(0, "k", "a", "v1", false, "d1"),
			state(3500, "k", "a", "released-x", true, "d1"), state(3510, "k", "b", "v3", false, "d1")}, true},
		{"an expired lock taken", []rig.LockState{state(0, "k", "a", "v1", false, "d1"), state(3200, "k", "b", "v3", false, "d1")}, true},
		{"taken from a live holder", []rig.LockState{state(0, "k", "a", "v1", false, "d1"), state(1000, "k", "b", "v3", false, "d2")}, false},
		{"a live holder's lock released by another", []rig.LockState{state(0, "k", "a", "v1", false, "d1"),
			state(1000, "k", "a", "released-x", true, "d1")}, false},
		{"other keys are other locks", []rig.LockState{state(0, "k", "a", "v1", false, "d1"), state(100, "j", "b", "v3", false, "d2")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := checkExclusive(tc.states, lease); c.ok != tc.ok {
				t.Fatalf("ok %v (%s), want %v", c.ok, c.detail, tc.ok)
			}
		})
	}
}

func step(id string, n, ms int) rig.Published {
	return rig.Published{Event: events.Event{DeployID: id, Type: events.StepStarted, Step: n, App: "a1", Env: "prod", Time: at(ms)}, At: at(ms)}
}

func TestCheckStepsUnderLock(t *testing.T) {
	states := []rig.LockState{state(0, "a1-prod", "x", "v1", false, "d1"), state(1000, "a1-prod", "x", "v1", true, "d1"),
		state(1100, "a1-prod", "y", "v2", false, "d2")}
	for _, tc := range []struct {
		name  string
		steps []rig.Published
		ok    bool
	}{
		{"each under its own lock", []rig.Published{step("d1", 2, 10), step("d1", 12, 900), step("d2", 2, 1200)}, true},
		{"before any lock", []rig.Published{step("d1", 2, -5)}, false},
		{"after its release", []rig.Published{step("d1", 12, 1050)}, false},
		{"under another deploy's lock", []rig.Published{step("d1", 9, 1500)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := checkStepsUnderLock(states, tc.steps); c.ok != tc.ok {
				t.Fatalf("ok %v (%s), want %v", c.ok, c.detail, tc.ok)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	sent := []sentMessage{{requestID: "r1", messageID: "m1"}, {requestID: "bad", messageID: "m2", malformed: true},
		{requestID: "r3", messageID: "m3"}}
	finals := []rig.Published{final("r1", events.DeploySucceeded, "e1", 1), final("bad", events.DeployRejected, "e2", 2)}
	c := checkMessages(sent, finals, map[string]bool{"m2": true}, map[string]bool{"m3": true})
	if !c.ok || !strings.Contains(c.detail, "3 sent = 1 consumed + 1 dead-lettered + 1 still queued + 0 lost") {
		t.Fatalf("all counted: ok %v, %s", c.ok, c.detail)
	}
	c = checkMessages(sent, finals, map[string]bool{"m2": true}, nil)
	if c.ok || !strings.Contains(c.detail, "1 lost: m3 (r3)") {
		t.Fatalf("one lost: ok %v, %s", c.ok, c.detail)
	}
}

func TestCheckServices(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    service
		ok   bool
	}{
		{"one PRIMARY behind the serving rule", service{app: "a1", primaries: []string{"blue"}, serving: "blue"}, true},
		{"two PRIMARY", service{app: "a1", primaries: []string{"blue", "green"}, serving: "blue"}, false},
		{"none", service{app: "a1", serving: "blue"}, false},
		{"PRIMARY not served", service{app: "a1", primaries: []string{"green"}, serving: "blue"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := checkServices([]service{tc.s}); c.ok != tc.ok {
				t.Fatalf("ok %v (%s), want %v", c.ok, c.detail, tc.ok)
			}
		})
	}
}

func TestCheckDowntime(t *testing.T) {
	if c := checkDowntime(nil); !c.ok {
		t.Fatal(c.detail)
	}
	if c := checkDowntime([]awsim.Outage{{ListenerArn: "l1", Start: at(0), End: at(5)}}); c.ok || !strings.Contains(c.detail, "1 outages") {
		t.Fatalf("an outage: ok %v, %s", c.ok, c.detail)
	}
}
