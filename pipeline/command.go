package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// baseEnvironment names the daemon's variables every command gets.
var baseEnvironment = []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}

// commandEnv builds a command's environment from an allowlist: the base
// variables, the ones the app config passes through, endpoint overrides and
// the target account's credentials. The daemon's own credentials and
// anything else it has are not passed.
func commandEnv(getenv func(string) string, pass []string, environ []string, creds []string) []string {
	var env []string
	seen := map[string]bool{}
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	for _, n := range baseEnvironment {
		add(n)
	}
	for _, n := range pass {
		add(n)
	}
	for _, kv := range environ {
		if name, _, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "AWS_ENDPOINT_URL") {
			add(name)
		}
	}
	return append(env, creds...)
}

// secretName matches the names of variables whose values must not be logged.
var secretName = regexp.MustCompile(`(?i)(SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL)`)

// redactor hides, in a command's output, the values of the secret-looking
// variables it was given: a command that prints its environment does not
// put credentials in the log.
func redactor(env []string) *strings.Replacer {
	var pairs []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && len(value) >= 4 && secretName.MatchString(name) {
			pairs = append(pairs, value, "[redacted]")
		}
	}
	return strings.NewReplacer(pairs...)
}

// commandStop says how a running command is stopped.
type commandStop struct {
	// timeout bounds the command; then its process group is killed.
	timeout time.Duration
	// grace is how long a command asked to stop by SIGTERM has before
	// SIGKILL, when the stop is not a shutdown with a kill channel.
	grace time.Duration
	// kill, when closed, ends the grace of a shutdown at once.
	kill <-chan struct{}
}

// waitDelay bounds how long a command's output is read after it exited or
// was killed: a grandchild that left the process group may hold it open.
const waitDelay = 2 * time.Second

// runCommand runs cmd as argv, never through a shell, in its own process
// group, with env as its whole environment. Its output goes to the log line
// by line under the program's name. At the timeout the whole group is
// killed. When ctx ends the group gets SIGTERM, then SIGKILL once stop's
// grace is over: for a shutdown (a cause other than ErrPreempted) with a
// kill channel, when the channel closes.
func runCommand(ctx context.Context, cmd Command, env []string, stop commandStop) error {
	log := zerolog.Ctx(ctx).With().Str("program", cmd.Program).Logger()
	redact := redactor(env)
	c := exec.Command(cmd.Program, cmd.Args...)
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, stderr := &lineLog{log: log, stream: "stdout", redact: redact}, &lineLog{log: log, stream: "stderr", redact: redact}
	c.Stdout, c.Stderr = stdout, stderr
	c.WaitDelay = waitDelay
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Program, err)
	}
	defer stdout.flush()
	defer stderr.flush()
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	killGroup := func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-waited
	}
	timeout := time.NewTimer(stop.timeout)
	defer timeout.Stop()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("%s: %w", cmd.Program, err)
		}
		return nil
	case <-timeout.C:
		killGroup()
		return fmt.Errorf("%s: timed out after %v; its process group was killed", cmd.Program, stop.timeout)
	case <-ctx.Done():
	}
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	kill := stop.kill
	var grace <-chan time.Time
	if kill == nil || errors.Is(context.Cause(ctx), ErrPreempted) {
		t := time.NewTimer(stop.grace)
		defer t.Stop()
		kill, grace = nil, t.C
	}
	select {
	case <-waited:
	case <-kill:
		killGroup()
	case <-grace:
		killGroup()
	case <-timeout.C:
		killGroup()
	}
	return fmt.Errorf("%s: stopped: %w", cmd.Program, context.Cause(ctx))
}

// lineLog writes a command's output to the log a line at a time.
type lineLog struct {
	log    zerolog.Logger
	stream string
	redact *strings.Replacer

	mu  sync.Mutex
	buf []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.line(l.buf)
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineLog) line(b []byte) {
	l.log.Info().Str("stream", l.stream).Msg(l.redact.Replace(string(bytes.TrimRight(b, "\r"))))
}

// flush logs what is left of a last line without a newline.
func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.line(l.buf)
		l.buf = nil
	}
}

// runCommands renders, for the deploy's build, and runs a list of command
// templates in order; the first failure stops the list.
func (r *run) runCommands(ctx context.Context, kind string, templates []CommandTemplate, taskDefinition string) error {
	return r.runCommandsFor(ctx, kind, templates, r.st.Artifact, taskDefinition)
}

// runCommandsFor is runCommands for another build.
func (r *run) runCommandsFor(ctx context.Context, kind string, templates []CommandTemplate, art Artifact, taskDefinition string) error {
	if len(templates) == 0 || (r.st.SkipCommands && kind != "verify") {
		return nil
	}
	data := r.templateDataFor(art, taskDefinition)
	var creds []string
	if r.aws.CommandEnv != nil {
		var err error
		if creds, err = r.aws.CommandEnv(ctx); err != nil {
			return fmt.Errorf("credentials for %s commands: %w", kind, err)
		}
	}
	env := commandEnv(r.p.cfg.Getenv, r.app.PassEnvironment, r.p.cfg.Environ(), creds)
	for i, t := range templates {
		cmd, err := renderCommand(t, data)
		if err != nil {
			return permanentError{fmt.Errorf("%s command %d: %w", kind, i, err)}
		}
		r.log.Info().Str("program", cmd.Program).Strs("args", cmd.Args).Msgf("run %s command", kind)
		stop := commandStop{timeout: r.p.cfg.CommandTimeout, grace: r.p.cfg.CommandGrace, kill: r.p.cfg.Kill}
		if err := runCommand(ctx, cmd, env, stop); err != nil {
			return fmt.Errorf("%s command %d: %w", kind, i, err)
		}
	}
	return nil
}
