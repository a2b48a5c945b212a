package rig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DaemonSpec says how to run one daemon.
type DaemonSpec struct {
	// Name names the daemon's log and, unless Args set -owner, its owner
	// in locks.
	Name string
	// Emulator serves its ECS, ELBv2 and CloudWatch calls.
	Emulator *Emulator
	// Queue is the request queue's name.
	Queue string
	// ConfigFile is the deploy config.
	ConfigFile string
	// Artifacts is the ArtifactDB file; ArtifactsTable, when set instead,
	// the ArtifactDB table.
	Artifacts, ArtifactsTable string
	// AccessKey is the access key ID it signs with. Default DaemonKey.
	AccessKey string
	// Env holds more environment variables, NAME=value.
	Env []string
	// Args are more flags, after the rig's own; a flag given twice takes
	// its last value.
	Args []string
}

// Daemon is a daemon process.
type Daemon struct {
	Name string
	// Addr is its health and metrics address.
	Addr string
	// Log is the file its output goes to.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartDaemon starts a daemon and waits until it consumes requests.
func (r *Rig) StartDaemon(ctx context.Context, s DaemonSpec) (*Daemon, error) {
	ln, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d := &Daemon{Name: s.Name, Addr: ln, Log: filepath.Join(r.Dir, s.Name+".log"), done: make(chan struct{})}
	args := []string{"-queue", s.Queue, "-topic-arn", r.TopicArn, "-config-file", s.ConfigFile,
		"-allow-any-sender", "-listen", d.Addr, "-owner", s.Name, "-lock-table", LockTable, "-requests-table", RequestsTable,
		"-log-format", "json"}
	if s.ArtifactsTable != "" {
		args = append(args, "-artifacts-table", s.ArtifactsTable)
	} else {
		args = append(args, "-artifacts", s.Artifacts)
	}
	args = append(args, s.Args...)
	logFile, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(r.DaemonBin, args...)
	key := s.AccessKey
	if key == "" {
		key = DaemonKey
	}
	d.cmd.Env = append(r.daemonEnv(s.Emulator, key), s.Env...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	// Its own process group, so a kill reaches any command it runs; and
	// it dies with this process.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start daemon %s: %w", s.Name, err)
	}
	r.mu.Lock()
	r.daemons = append(r.daemons, d)
	r.mu.Unlock()
	go func() {
		d.err = d.cmd.Wait()
		logFile.Close()
		close(d.done)
	}()
	if err := d.waitReady(ctx, 60*time.Second); err != nil {
		d.Kill()
		return nil, err
	}
	return d, nil
}

func freeAddr() (string, error) {
	ln, err := netListen()
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// daemonEnv is the daemon's environment: this process's, without its AWS
// settings, plus the rig's endpoints and credentials signing with key.
func (r *Rig) daemonEnv(e *Emulator, key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "ECS_DEPLOY_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+daemonSecret, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_SQS="+r.goawsFront, "AWS_ENDPOINT_URL_SNS="+r.goawsFront, "AWS_ENDPOINT_URL_DYNAMODB="+r.dynamoFront,
		"AWS_ENDPOINT_URL_ECS="+e.ecsFront, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+e.elbFront,
		"AWS_ENDPOINT_URL_CLOUDWATCH="+e.cloudWatchFront, "AWS_ENDPOINT_URL_STS="+e.cloudWatchFront,
	)
}

func (d *Daemon) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + d.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("daemon %s exited (%v); its log: %s\n%s", d.Name, d.err, d.Log, tailFile(d.Log, 3000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %s not ready within %v; its log: %s", d.Name, timeout, d.Log)
		}
	}
}

// Pid is the daemon's process ID.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Running says whether the process has not exited.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Kill ends the daemon's process group with SIGKILL and waits for it.
func (d *Daemon) Kill() {
	if !d.Running() {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

// Stop sends SIGTERM and waits for the daemon to exit by itself, killing
// it after timeout. It says whether the daemon exited by itself with 0.
func (d *Daemon) Stop(timeout time.Duration) error {
	if !d.Running() {
		return d.exitErr()
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.exitErr()
	case <-time.After(timeout):
		d.Kill()
		return fmt.Errorf("daemon %s did not stop within %v of SIGTERM", d.Name, timeout)
	}
}

func (d *Daemon) exitErr() error {
	if d.err != nil {
		return fmt.Errorf("daemon %s: %w", d.Name, d.err)
	}
	return nil
}

// PeakRSS is the most memory the daemon has held resident so far
// (VmHWM), in bytes.
func (d *Daemon) PeakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// tailFile returns the end of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
