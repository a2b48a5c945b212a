package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func logged(t *testing.T) (context.Context, *bytes.Buffer) {
	var buf bytes.Buffer
	return zerolog.New(&buf).WithContext(t.Context()), &buf
}

func TestRunCommandIsArgv(t *testing.T) {
	ctx, buf := logged(t)
	arg := `it's "quoted"; echo injected $HOME`
	if err := runCommand(ctx, Command{Program: "printf", Args: []string{"%s\n", arg}}, []string{"PATH=" + os.Getenv("PATH")}, commandStop{timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `it's \"quoted\"; echo injected $HOME`) || !strings.Contains(out, `"program":"printf"`) || !strings.Contains(out, `"stream":"stdout"`) {
		t.Fatalf("log: %s", out)
	}
}

func TestRunCommandFails(t *testing.T) {
	ctx, _ := logged(t)
	err := runCommand(ctx, Command{Program: "false"}, []string{"PATH=" + os.Getenv("PATH")}, commandStop{timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "false") {
		t.Fatalf("err = %v", err)
	}
	if err := runCommand(ctx, Command{Program: "no-such-program-here"}, nil, commandStop{timeout: time.Minute}); err == nil {
		t.Fatal("missing program ran")
	}
}

// TestRunCommandTimeoutKillsGroup: at the timeout the command and what it
// started in the background are killed.
func TestRunCommandTimeoutKillsGroup(t *testing.T) {
	ctx, _ := logged(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := runCommand(ctx, Command{Program: "sh", Args: []string{"-c", "sleep 60 & echo $! > " + pidFile + "; wait"}},
		[]string{"PATH=" + os.Getenv("PATH")}, commandStop{timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommandEnvAllowlist(t *testing.T) {
	vars := map[string]string{
		"PATH": "/bin", "HOME": "/root", "VPC_CONF_API_KEYS": "k1", "CLOUDTAMER_PASSWORD": "secret",
		"AWS_SECRET_ACCESS_KEY": "daemon-secret", "AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:1",
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	env := commandEnv(func(k string) string { return vars[k] }, []string{"VPC_CONF_API_KEYS"}, environ,
		[]string{"AWS_ACCESS_KEY_ID=target", "AWS_SECRET_ACCESS_KEY=target-secret"})
	got := strings.Join(env, "\n")
	for _, want := range []string{"PATH=/bin", "HOME=/root", "VPC_CONF_API_KEYS=k1", "AWS_ENDPOINT_URL_ECS=http://127.0.0.1:1", "AWS_SECRET_ACCESS_KEY=target-secret"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	for _, leak := range []string{"CLOUDTAMER_PASSWORD", "daemon-secret"} {
		if strings.Contains(got, leak) {
			t.Errorf("%s leaked into:\n%s", leak, got)
		}
	}
}

func TestCommandOutputRedactsSecrets(t *testing.T) {
	ctx, buf := logged(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "VPC_CONF_API_KEYS=k-123456", "REGION=us-east-1"}
	if err := runCommand(ctx, Command{Program: "env"}, env, commandStop{timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "wJalrXUtnFEMI") || strings.Contains(out, "k-123456") {
		t.Fatalf("a secret reached the log:\n%s", out)
	}
	if !strings.Contains(out, "AWS_SECRET_ACCESS_KEY=[redacted]") || !strings.Contains(out, "REGION=us-east-1") {
		t.Fatalf("log:\n%s", out)
	}
}

// TestRunCommandTimeoutWithEscapedGrandchild: a grandchild that left the
// process group and holds the output open does not keep the timeout from
// returning.
func TestRunCommandTimeoutWithEscapedGrandchild(t *testing.T) {
	ctx, _ := logged(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	done := make(chan error, 1)
	go func() {
		done <- runCommand(ctx, Command{Program: "sh", Args: []string{"-c", "setsid sh -c 'echo $$ > " + pidFile + "; exec sleep 30' & sleep 60"}},
			[]string{"PATH=" + os.Getenv("PATH")}, commandStop{timeout: 300 * time.Millisecond})
	}()
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runCommand did not return: the escaped grandchild holds its output open")
	}
}

// TestRunCommandShutdown: when the deploy stops for a shutdown, the command
// gets SIGTERM; one that ignores it is killed when the daemon's shutdown
// budget runs out (the kill channel closes), not before.
func TestRunCommandShutdown(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH")}
	t.Run("SIGTERM", func(t *testing.T) {
		ctx, buf := logged(t)
		ctx, cancel := context.WithCancel(ctx)
		started := filepath.Join(t.TempDir(), "started")
		done := make(chan error, 1)
		go func() {
			done <- runCommand(ctx, Command{Program: "sh", Args: []string{"-c", "trap 'echo got-term; exit 3' TERM; touch " + started + "; sleep 30 & wait"}},
				env, commandStop{timeout: time.Minute, grace: time.Minute, kill: make(chan struct{})})
		}()
		waitForFile(t, started)
		cancel()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "stopped") {
				t.Fatalf("err = %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the command did not stop on SIGTERM")
		}
		if !strings.Contains(buf.String(), "got-term") {
			t.Fatalf("the command did not see SIGTERM: %s", buf.String())
		}
	})
	t.Run("SIGKILL at the end of the budget", func(t *testing.T) {
		ctx, _ := logged(t)
		ctx, cancel := context.WithCancel(ctx)
		started := filepath.Join(t.TempDir(), "started")
		kill := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- runCommand(ctx, Command{Program: "sh", Args: []string{"-c", "trap '' TERM; touch " + started + "; while :; do sleep 1; done"}},
				env, commandStop{timeout: time.Minute, grace: 10 * time.Millisecond, kill: kill})
		}()
		waitForFile(t, started)
		cancel()
		select {
		case err := <-done:
			t.Fatalf("returned before the budget ran out: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		close(kill)
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "stopped") {
				t.Fatalf("err = %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the command was not killed when the budget ran out")
		}
	})
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}
