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

// installed returns the path of a file under .testbed, or an error naming
// the install command when it is missing.
func installed(rel string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".testbed", rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testbed: %s is not installed: %s", p, installHint)
	}
	return p, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Process is a stand-in running as its own process group on loopback.
type Process struct {
	// Name is what runs: "goaws" or "dynalite".
	Name string
	// Endpoint is its URL, http://127.0.0.1:port.
	Endpoint string
	// Log is the file its output goes to.
	Log string

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan error
}

// Stop ends the process group: SIGTERM, then SIGKILL after five seconds.
// It may be called more than once.
func (p *Process) Stop() {
	if p.cmd.Process == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err := <-p.exited
		p.exited <- err
	}
	// Children that ignored the group's SIGTERM go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.logFile.Close()
}

// start runs a server process in its own process group, killed if this
// process dies first, and waits until it answers HTTP on port.
func start(name string, port int, cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("testbed: start %s: %w", name, err)
	}
	p := &Process{Name: name, Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Log: logPath, cmd: cmd, logFile: logFile, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			p.Stop()
			return nil, fmt.Errorf("testbed: %s exited before answering (%v); its log:\n%s", name, err, readLog(logPath))
		default:
		}
		resp, err := http.Get(p.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("testbed: %s did not answer on %s within 30s: %v; its log:\n%s", name, p.Endpoint, err, readLog(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// Goaws starts goaws (SQS and SNS) and returns its endpoint; the test's
// cleanup stops it. Queue URLs it hands out point at 127.0.0.1.
func Goaws(t testing.TB) string {
	t.Helper()
	return started(t, StartGoaws)
}

// Dynalite starts dynalite (DynamoDB, in memory) and returns its endpoint;
// the test's cleanup stops it.
func Dynalite(t testing.TB) string {
	t.Helper()
	return started(t, StartDynalite)
}

func started(t testing.TB, startFn func(dir string) (*Process, error)) string {
	t.Helper()
	p, err := startFn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p.Endpoint
}

// StartGoaws starts goaws (SQS and SNS) on a free loopback port, with its
// config and log in dir. Stop ends it.
func StartGoaws(dir string) (*Process, error) {
	bin, err := installed("bin/goaws")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "goaws.yaml")
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
		return nil, err
	}
	return start("goaws", port, exec.Command(bin, "-config", cfg, "-loglevel", "warn", "Local"), filepath.Join(dir, "goaws.log"))
}

// StartDynalite starts dynalite (DynamoDB, in memory) on a free loopback
// port, with its log in dir. Stop ends it.
func StartDynalite(dir string) (*Process, error) {
	cli, err := installed("node_modules/dynalite/cli.js")
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("testbed: node is not in PATH; dynalite needs Node.js: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	guard := filepath.Join(dir, "dynalite-guard.js")
	if err := os.WriteFile(guard, []byte(dynaliteGuard), 0o600); err != nil {
		return nil, err
	}
	return start("dynalite", port, exec.Command(node, "--require", guard, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"), filepath.Join(dir, "dynalite.log"))
}

// dynaliteGuard keeps dynalite serving when a client gives up on a request
// (a cancelled context, a killed daemon): dynalite 4.0.0 throws the
// request's "aborted" error (index.js, req.on('error')), and the whole
// process dies, where DynamoDB shrugs.
const dynaliteGuard = `process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite-guard: a client aborted its request: ' + err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
`
