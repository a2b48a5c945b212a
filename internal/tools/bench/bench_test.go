package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const help = `Usage of daemon:
  -lock-heartbeat duration
    	how often a held lock is renewed (env ECS_DEPLOY_LOCK_HEARTBEAT) (default 1s)
  -lock-lease duration
    	how long a lock whose heartbeats stopped stays held (env ECS_DEPLOY_LOCK_LEASE) (default 10s)
  -roles string
    	roles this process plays: deploy (env ECS_DEPLOY_ROLES) (default "deploy")
  -visibility-timeout duration
    	how long a message stays hidden (env ECS_DEPLOY_VISIBILITY_TIMEOUT) (default 30s)
`

func TestParseDefaults(t *testing.T) {
	d, err := parseDefaults(help)
	if err != nil {
		t.Fatal(err)
	}
	if d.visibility != 30*time.Second || d.lease != 10*time.Second || d.heartbeat != time.Second ||
		!strings.HasPrefix(d.rolesUsage, "roles this process plays: deploy") {
		t.Fatalf("%+v", d)
	}
	if _, err := parseDefaults(strings.Replace(help, "(default 10s)", "", 1)); err == nil || !strings.Contains(err.Error(), "-lock-lease") {
		t.Fatalf("a missing default: %v", err)
	}
}

// TestRealTime: emulator times map back to the wall clock across jumps
// of the emulator's clock; a time inside a jump happened at the jump.
func TestRealTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jumps := []jump{{at: base.Add(10 * time.Second), d: 500 * time.Millisecond}, {at: base.Add(20 * time.Second), d: 300 * time.Millisecond}}
	for _, tc := range []struct {
		sim, want time.Duration
	}{
		{5 * time.Second, 5 * time.Second},
		{10*time.Second + 200*time.Millisecond, 10 * time.Second},
		{15 * time.Second, 15*time.Second - 500*time.Millisecond},
		{20*time.Second + 600*time.Millisecond, 20 * time.Second},
		{30 * time.Second, 30*time.Second - 800*time.Millisecond},
	} {
		if got := realTime(jumps, base.Add(tc.sim)).Sub(base); got != tc.want {
			t.Errorf("emulator %v: wall %v, want %v", tc.sim, got, tc.want)
		}
	}
}

func TestDrainTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	task := func(stopping, stopped time.Duration) ecstypes.Task {
		return ecstypes.Task{StoppingAt: aws.Time(base.Add(stopping)), StoppedAt: aws.Time(base.Add(stopped))}
	}
	tasks := []ecstypes.Task{
		task(-time.Minute, -50*time.Second), // an earlier deploy's
		task(2*time.Second, 17*time.Second),
		task(2*time.Second, 17500*time.Millisecond),
		{StoppingAt: aws.Time(base.Add(3 * time.Second))}, // still stopping
	}
	identity := func(t time.Time) time.Time { return t }
	if got := drainTime(tasks, identity, base, base.Add(30*time.Second)); got != 15500*time.Millisecond {
		t.Fatalf("drain %v, want 15.5s", got)
	}
	if got := drainTime(tasks[:1], identity, base, base.Add(30*time.Second)); got != 0 {
		t.Fatalf("no task stopped within the deploy: %v", got)
	}
}

// TestPrintEndsWithJSON: the table says each target and whether it is
// met; the last line is the JSON of every figure, null when not measured.
func TestPrintEndsWithJSON(t *testing.T) {
	r := newResults("quick")
	r.below("overhead_ms_p50", 812.4, "ms", 1500, "")
	r.atMost("api_calls_ratio", 0.52, "", 0.4, "")
	r.info("api_calls_per_deploy", map[string]float64{"ecs": 31, "sqs": 3}, "", "")
	r.notMeasured("fanout_ms_p99", "", "no roles")
	var out bytes.Buffer
	r.print(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if got["overhead_ms_p50"] != 812.0 || got["api_calls_ratio"] != 0.52 || got["fanout_ms_p99"] != nil || got["mode"] != "quick" {
		t.Fatalf("JSON %v", got)
	}
	if calls, _ := got["api_calls_per_deploy"].(map[string]any); calls["ecs"] != 31.0 {
		t.Fatalf("calls by service %v", got["api_calls_per_deploy"])
	}
	table := out.String()
	for _, want := range []string{"overhead_ms_p50       812 ms", "< 1500  yes", "≤ 0.4   NO", "ecs 31, sqs 3", "not measured: no roles"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
}
