package artifactdb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/pipeline"
)

// script writes an executable shell script standing in for artifact-db.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifact-db")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

func newCLI(t *testing.T, path string, timeout time.Duration) *artifactdb.CLI {
	t.Helper()
	c, err := artifactdb.NewCLI(artifactdb.CLIConfig{Path: path, Region: "us-west-2", Timeout: timeout, WaitDelay: 200 * time.Millisecond,
		Env: func(context.Context) ([]string, error) {
			return []string{"AWS_ACCESS_KEY_ID=AKIACONFIG", "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_SESSION_TOKEN=tok-" + secret}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCLIFailures(t *testing.T) {
	sel := pipeline.Selector{SHA: "abc"}
	cases := []struct {
		name     string
		body     string
		notFound bool
		want     []string
	}{
		{name: "empty output means no build matched", body: "exit 0", notFound: true, want: []string{"printed nothing"}},
		{name: "null means no build matched", body: "echo null", notFound: true},
		{name: "bad JSON", body: `echo '{"BuildNumber": 3, "Value": '`, want: []string{"artifact-db latest", "not an artifact's JSON"}},
		{name: "another SHA", body: `echo '{"BuildNumber": 3, "Value": "x", "Tags": {"SHA": "def"}}'`, want: []string{`tagged SHA="def"`}},
		{name: "non-zero exit, stderr redacted", body: `echo "AccessDenied for key $AWS_SECRET_ACCESS_KEY token $AWS_SESSION_TOKEN" >&2; exit 3`,
			want: []string{"artifact-db latest", "exit status 3", "AccessDenied for key [redacted] token [redacted]"}},
		{name: "non-zero exit saying not found", body: `echo "artifact not found" >&2; exit 1`, notFound: true},
		{name: "missing program", body: "", want: []string{"no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := script(t, c.body)
			if c.body == "" {
				path = filepath.Join(t.TempDir(), "artifact-db")
			}
			_, err := newCLI(t, path, 10*time.Second).FindArtifact(t.Context(), "shop", sel)
			if err == nil {
				t.Fatal("FindArtifact succeeded")
			}
			if errors.Is(err, pipeline.ErrArtifactNotFound) != c.notFound {
				t.Errorf("error %q: ErrArtifactNotFound is %v, want %v", err, !c.notFound, c.notFound)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q carries the secret key", err)
			}
		})
	}
}

// TestCLISlowTool: a tool that outlives its timeout is killed with its
// whole process group, and the store says so.
func TestCLISlowTool(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	path := script(t, "sleep 30 &\necho $! > "+pidFile+"\nwait")
	start := time.Now()
	_, err := newCLI(t, path, 500*time.Millisecond).FindArtifact(t.Context(), "shop", pipeline.Selector{SHA: "abc"})
	if err == nil || !strings.Contains(err.Error(), "timed out after 500ms") || errors.Is(err, pipeline.ErrArtifactNotFound) {
		t.Fatalf("FindArtifact = %v; want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The grandchild is gone (or a zombie waiting for init to reap it).
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the tool's child %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestCLIArgv checks the exact argv of each command and the environment:
// the config account's credentials, not the daemon's.
func TestCLIArgv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIADAEMON")
	dir := t.TempDir()
	log := filepath.Join(dir, "argv")
	path := script(t, `printf '%s|' "$@" >> `+log+`; echo "key=$AWS_ACCESS_KEY_ID" >> `+log+`
case "$3" in
latest|get) echo '{"BuildNumber": 7, "Value": "shop:7", "Tags": {"SHA": "abc"}}' ;;
esac`)
	c := newCLI(t, path, 10*time.Second)
	if _, err := c.FindArtifact(t.Context(), "shop", pipeline.Selector{SHA: "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RecordResult(t.Context(), artifactdb.Result{Project: "shop", Build: 7, Env: "dev", ConfigSHA: "0123456789ab",
		Outcome: artifactdb.Success, EndedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`--region|us-west-2|latest|-p|shop|-j|-t|{"SHA":"abc"}|key=AKIACONFIG`,
		`--region|us-west-2|get|-j|-p|shop|-b|7|key=AKIACONFIG`,
		`--region|us-west-2|-p|shop|-b|7|tag|set|-k|deploy-dev-01234567|-v|success|key=AKIACONFIG`,
		`--region|us-west-2|-p|shop|-b|7|tag|set|-k|deploy-dev-01234567-ended|-v|2025-03-01T12:00:00.000000000Z|key=AKIACONFIG`,
	}, "\n") + "\n"
	if string(b) != want {
		t.Fatalf("argv:\n%s\nwant:\n%s", b, want)
	}
}
