package main

import (
	"os"
	"path/filepath"
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

// state is a lock state read back at ms, whose version was written (by the
// tapped write) when it was read back.
func state(ms int, key, holding, version string, released bool, deploy string) rig.LockState {
	owner, _, _ := strings.Cut(holding, "/")
	return rig.LockState{At: at(ms), Written: at(ms), Key: key, Holding: holding, Owner: owner, RecordVersion: version,
		Released: released, Status: pipeline.Status{DeployID: deploy}}
}

// written is s with its version written, at the earliest, at ms.
func written(s rig.LockState, ms int) rig.LockState {
	s.Written = at(ms)
	return s
}

// notWritten is s read back after another write than the one that set its
// version.
func notWritten(s rig.LockState) rig.LockState {
	s.Written = time.Time{}
	return s
}

func TestCheckExclusive(t *testing.T) {
	lease := 3 * time.Second
	for _, tc := range []struct {
		name   string
		states []rig.LockState
		ok     bool
		says   string
	}{
		{"released, then taken", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"), state(400, "k", "a/r1", "v2", false, "d1"),
			state(500, "k", "a/r1", "v2", true, "d1"), state(600, "k", "b/r2", "v3", false, "d2")}, true, "0 taken"},
		{"released, then taken by the same daemon", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"),
			state(500, "k", "a/r1", "v1", true, "d1"), state(600, "k", "a/r2", "v3", false, "d2")}, true, "0 taken"},
		{"a dead holder's lock released after a lease", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"),
			state(3500, "k", "released-dead/x", "released-x", true, "d1"), state(3510, "k", "b/r2", "v3", false, "d1")}, true, "0 taken"},
		{"an expired lock taken", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"), state(3200, "k", "b/r2", "v3", false, "d1")}, true, "1 taken"},
		{"a late read-back is no overlap", []rig.LockState{written(state(400, "k", "a/r1", "v1", false, "d1"), 0),
			state(3050, "k", "b/r2", "v3", false, "d1")}, true, "1 taken"},
		{"a holder none of whose writes was read back", []rig.LockState{notWritten(state(0, "k", "a/r1", "v1", false, "d1")),
			state(1000, "k", "b/r2", "v3", false, "d2")}, true, "1 ended holdings not judged"},
		{"taken from a live holder", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"), state(1000, "k", "b/r2", "v3", false, "d2")},
			false, "taken by b/r2"},
		{"taken just inside the lease", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"), state(2900, "k", "b/r2", "v3", false, "d2")},
			false, "taken by b/r2 at most 2.9s"},
		{"a live holder's lock released by another", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"),
			state(1000, "k", "released-dead/x", "released-x", true, "d1")}, false, "released by released-dead/x"},
		{"two holdings of one daemon overlapping", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"),
			state(1000, "k", "a/r2", "v2", false, "d1")}, false, "taken by a/r2"},
		{"a holder writing after its release", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"),
			state(500, "k", "a/r1", "v1", true, "d1"), state(700, "k", "a/r1", "v2", true, "d1")}, false, "written by a/r1 after it was released"},
		{"other keys are other locks", []rig.LockState{state(0, "k", "a/r1", "v1", false, "d1"), state(100, "j", "b/r2", "v3", false, "d2")}, true, "0 taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := checkExclusive(tc.states, lease); c.ok != tc.ok || !strings.Contains(c.detail, tc.says) {
				t.Fatalf("ok %v (%s), want %v saying %q", c.ok, c.detail, tc.ok, tc.says)
			}
		})
	}
}

func step(id string, n, ms int) rig.Published {
	return rig.Published{Event: events.Event{DeployID: id, Type: events.StepStarted, Step: n, App: "a1", Env: "prod", Time: at(ms)}, At: at(ms)}
}

// saved is a1-prod's lock state after a write of holding, its status
// naming run's step of deploy.
func saved(ms int, holding, version string, released bool, deploy, run string, step int) rig.LockState {
	s := state(ms, "a1-prod", holding, version, released, deploy)
	s.Status.RunID, s.Status.Step = run, step
	return s
}

func TestCheckStepsUnderLock(t *testing.T) {
	// x/r1 runs d1 and releases the lock; y/r2 takes it for d2. Then z/r3
	// runs d3 and stalls at step 6; w/r4 takes the lock over (its status
	// still r3's) and resumes d3 at step 6.
	states := []rig.LockState{saved(0, "x/r1", "v1", false, "d1", "r1", 2), saved(800, "x/r1", "v2", false, "d1", "r1", 12),
		saved(1000, "x/r1", "v2", true, "d1", "r1", 12), saved(1100, "y/r2", "v3", false, "d1", "r1", 12),
		saved(1150, "y/r2", "v4", false, "d2", "r2", 2), saved(2000, "y/r2", "v4", true, "d2", "r2", 2),
		saved(2100, "z/r3", "v5", false, "d3", "r3", 6), saved(5200, "w/r4", "v6", false, "d3", "r3", 6),
		saved(5300, "w/r4", "v7", false, "d3", "r4", 6), saved(5500, "w/r4", "v8", false, "d3", "r4", 7)}
	for _, tc := range []struct {
		name  string
		steps []rig.Published
		ok    bool
	}{
		{"each under its own lock", []rig.Published{step("d1", 2, 10), step("d1", 12, 900), step("d2", 2, 1200)}, true},
		{"a resume under its own lock", []rig.Published{step("d3", 6, 2150), step("d3", 6, 5350), step("d3", 7, 5600)}, true},
		{"before any lock", []rig.Published{step("d1", 2, -5)}, false},
		{"after its release", []rig.Published{step("d1", 12, 1050)}, false},
		{"under another deploy's lock", []rig.Published{step("d1", 9, 1500)}, false},
		{"under the next holding, before it saved a step", []rig.Published{step("d1", 12, 1120)}, false},
		{"one deploy from two runs overlapping", []rig.Published{step("d3", 6, 5250)}, false},
		{"a step its holding never saved", []rig.Published{step("d3", 8, 5600)}, false},
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

func TestCheckNoPanic(t *testing.T) {
	dir := t.TempDir()
	clean, panicked := filepath.Join(dir, "torture-r1-g1.log"), filepath.Join(dir, "torture-r2-g1.log")
	for path, body := range map[string]string{clean: `{"level":"info","message":"deploy succeeded"}`,
		panicked: `{"level":"error","error":"panic occurred: \"invalid memory address\""}`} {
		if err := os.WriteFile(path, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c := checkNoPanic([]string{clean}); !c.ok {
		t.Fatalf("a clean log failed: %s", c.detail)
	}
	if c := checkNoPanic([]string{clean, panicked}); c.ok || !strings.Contains(c.detail, "torture-r2-g1.log: 1 lines") {
		t.Fatalf("a panic passed: %+v", c)
	}
	if c := checkNoPanic([]string{filepath.Join(dir, "missing.log")}); c.ok {
		t.Fatal("a log that cannot be read passed")
	}
}
