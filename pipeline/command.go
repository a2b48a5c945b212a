package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// runCommand runs cmd as argv, never through a shell, in its own process
// group, with env as its whole environment. Its output goes to the log line
// by line under the program's name. At timeout or when ctx ends the whole
// group is killed.
func runCommand(ctx context.Context, cmd Command, env []string, timeout time.Duration) error {
	log := zerolog.Ctx(ctx).With().Str("program", cmd.Program).Logger()
	redact := redactor(env)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.Command(cmd.Program, cmd.Args...)
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Program, err)
	}
	var wg sync.WaitGroup
	for stream, r := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				log.Info().Str("stream", stream).Msg(redact.Replace(sc.Text()))
			}
		}()
	}
	waited := make(chan error, 1)
	go func() {
		wg.Wait()
		waited <- c.Wait()
	}()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-waited
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: timed out after %v; its process group was killed", cmd.Program, timeout)
		}
		return fmt.Errorf("%s: %w", cmd.Program, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd.Program, err)
	}
	return nil
}

// runCommands renders and runs a list of command templates in order; the
// first failure stops the list.
func (r *run) runCommands(ctx context.Context, kind string, templates []CommandTemplate, taskDefinition string) error {
	if len(templates) == 0 {
		return nil
	}
	data := r.templateData(taskDefinition)
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
		if err := runCommand(ctx, cmd, env, r.p.cfg.CommandTimeout); err != nil {
			return fmt.Errorf("%s command %d: %w", kind, i, err)
		}
	}
	return nil
}
