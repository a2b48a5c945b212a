package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const installHint = "run scripts/testbed-install (CI does it in .ci/run)"

// Root returns the module's root folder: the nearest parent of the working
// directory holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// installed returns the path of a file under .testbed, failing the test
// with the install command when it is missing.
func installed(t testing.TB, rel string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".testbed", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testbed: %s is not installed: %s", p, installHint)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a server process in its own process group and waits until it
// answers HTTP on port; the test's cleanup stops the whole group.
func start(t testing.TB, name string, port int, cmd *exec.Cmd) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("testbed: start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stop(cmd, exited)
		logFile.Close()
	})
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("testbed: %s exited before answering (%v); its log:\n%s", name, err, readLog(logPath))
		default:
		}
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: %s did not answer on %s within 30s: %v; its log:\n%s", name, endpoint, err, readLog(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after five seconds.
func stop(cmd *exec.Cmd, exited chan error) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Children that ignored the group's SIGTERM go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}

// Goaws starts goaws (SQS and SNS) and returns its endpoint. Queue URLs it
// hands out point at 127.0.0.1.
func Goaws(t testing.TB) string {
	t.Helper()
	bin := installed(t, "bin/goaws")
	port := FreePort(t)
	cfg := filepath.Join(t.TempDir(), "goaws.yaml")
	yaml := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: %d
  Region: us-east-1
  AccountId: "100010001000"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
`, port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, "goaws", port, exec.Command(bin, "-config", cfg, "-loglevel", "warn", "Local"))
}

// Dynalite starts dynalite (DynamoDB, in memory) and returns its endpoint.
func Dynalite(t testing.TB) string {
	t.Helper()
	cli := installed(t, "node_modules/dynalite/cli.js")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("testbed: node is not in PATH; dynalite needs Node.js: %v", err)
	}
	port := FreePort(t)
	return start(t, "dynalite", port, exec.Command(node, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"))
}
