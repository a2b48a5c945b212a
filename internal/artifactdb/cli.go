package artifactdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ecs-deploy/pipeline"
)

// CLIConfig sets up a CLI store.
type CLIConfig struct {
	// Path is the artifact-db program. Default "artifact-db", found on PATH.
	Path string
	// Region is passed as --region: the deploy config's ConfigRegion. Required.
	Region string
	// Env returns the variables the tool gets besides PATH, HOME, TMPDIR,
	// LANG, TZ and AWS_ENDPOINT_URL*: the config account's AWS credentials
	// (credentials.Accounts.CommandEnv). Default: none, so the tool finds
	// credentials as the AWS CLI would without keys (instance role and the like).
	Env func(ctx context.Context) ([]string, error)
	// Timeout bounds each run; then the tool's process group is killed.
	// Default 1m.
	Timeout time.Duration
	// WaitDelay is how long a run waits for the tool's output to close after
	// it exits or is killed (exec.Cmd.WaitDelay). Default 5s.
	WaitDelay time.Duration
}

func (c *CLIConfig) setDefaults() {
	if c.Path == "" {
		c.Path = "artifact-db"
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	if c.WaitDelay == 0 {
		c.WaitDelay = 5 * time.Second
	}
}

// Validate reports every missing or bad field.
func (c CLIConfig) Validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("artifactdb.CLIConfig.Region is empty"))
	}
	if c.Timeout < 0 || c.WaitDelay < 0 {
		errs = append(errs, errors.New("artifactdb.CLIConfig.Timeout and WaitDelay must not be negative"))
	}
	return errors.Join(errs...)
}

// CLI is the store that runs the artifact-db tool, as the original did:
//
//	artifact-db --region R latest -p PROJECT -j -t '{"SHA":"<sha>"}'
//	artifact-db --region R get -j -p PROJECT -b BUILD
//	artifact-db --region R -p PROJECT -b BUILD tag set -k KEY -v VALUE
//
// latest and get print the build as JSON (BuildNumber, Value, Tags), or
// nothing when none matches. The tool cannot set two tags at once or set one
// on a condition, so RecordResult reads the build first and writes the
// result tag, then its time; a recorder that dies between the two writes
// leaves an older time, and the redelivered event writes both again.
type CLI struct{ cfg CLIConfig }

// NewCLI returns a CLI store.
func NewCLI(cfg CLIConfig) (*CLI, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &CLI{cfg: cfg}, nil
}

// toolArtifact is the tool's JSON form of a build.
type toolArtifact struct {
	BuildNumber int
	Value       string
	Tags        map[string]string
}

func (c *CLI) FindArtifact(ctx context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	if sel.SHA == "" {
		return c.GetBuild(ctx, project, sel.Build)
	}
	filter, err := json.Marshal(map[string]string{"SHA": sel.SHA})
	if err != nil {
		return pipeline.Artifact{}, err
	}
	out, err := c.run(ctx, "--region", c.cfg.Region, "latest", "-p", project, "-j", "-t", string(filter))
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("find %s of project %s: %w", sel, project, err)
	}
	a, err := parseArtifact(out)
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("find %s of project %s: artifact-db latest: %w", sel, project, err)
	}
	if a.Tags["SHA"] != sel.SHA {
		return pipeline.Artifact{}, fmt.Errorf("find %s of project %s: artifact-db latest returned build %d tagged SHA=%q", sel, project, a.BuildNumber, a.Tags["SHA"])
	}
	return a, nil
}

func (c *CLI) GetBuild(ctx context.Context, project string, build int) (pipeline.Artifact, error) {
	out, err := c.run(ctx, "--region", c.cfg.Region, "get", "-j", "-p", project, "-b", strconv.Itoa(build))
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("get build %d of project %s: %w", build, project, err)
	}
	a, err := parseArtifact(out)
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("get build %d of project %s: artifact-db get: %w", build, project, err)
	}
	if a.BuildNumber != build {
		return pipeline.Artifact{}, fmt.Errorf("get build %d of project %s: artifact-db get returned build %d", build, project, a.BuildNumber)
	}
	return a, nil
}

func (c *CLI) RecordResult(ctx context.Context, r Result) error {
	if err := r.Validate(); err != nil {
		return err
	}
	a, err := c.GetBuild(ctx, r.Project, r.Build)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.Tag(), err)
	}
	if !r.Supersedes(a.Tags) {
		return nil
	}
	if err := c.setTag(ctx, r.Project, r.Build, r.Tag(), string(r.Outcome)); err != nil {
		return err
	}
	return c.setTag(ctx, r.Project, r.Build, r.EndedTag(), formatTime(r.EndedAt))
}

func (c *CLI) setTag(ctx context.Context, project string, build int, key, value string) error {
	if _, err := c.run(ctx, "--region", c.cfg.Region, "-p", project, "-b", strconv.Itoa(build), "tag", "set", "-k", key, "-v", value); err != nil {
		return fmt.Errorf("set tag %s=%s on build %d of project %s: %w", key, value, build, project, err)
	}
	return nil
}

// parseArtifact reads the tool's JSON. Empty output, null or a build
// numbered 0 mean no build matched.
func parseArtifact(out []byte) (pipeline.Artifact, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return pipeline.Artifact{}, fmt.Errorf("printed nothing: %w", pipeline.ErrArtifactNotFound)
	}
	var t *toolArtifact
	if err := json.Unmarshal(out, &t); err != nil {
		// The output itself stays out of the error: it could hold anything.
		return pipeline.Artifact{}, fmt.Errorf("its %d bytes of output are not an artifact's JSON: %w", len(out), err)
	}
	if t == nil || t.BuildNumber == 0 {
		return pipeline.Artifact{}, fmt.Errorf("printed no build: %w", pipeline.ErrArtifactNotFound)
	}
	if t.Tags == nil {
		t.Tags = map[string]string{}
	}
	return pipeline.Artifact{BuildNumber: t.BuildNumber, Value: t.Value, Tags: t.Tags}, nil
}

// notFound matches what the tool may say on stderr when nothing matches.
var notFound = regexp.MustCompile(`(?i)not found|no such|no artifact|no build`)

// run runs the tool as argv, in its own process group, with an environment
// built from an allowlist, and returns its standard output. Its standard
// error goes into the error, with secret values redacted.
func (c *CLI) run(ctx context.Context, args ...string) ([]byte, error) {
	var creds []string
	if c.cfg.Env != nil {
		var err error
		if creds, err = c.cfg.Env(ctx); err != nil {
			return nil, fmt.Errorf("artifact-db environment: %w", err)
		}
	}
	env := toolEnv(creds)
	sub := subcommand(args)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cfg.Path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = c.cfg.WaitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limited{buf: &stdout, max: 4 << 20}, &limited{buf: &stderr, max: 64 << 10}
	err := cmd.Run()
	switch {
	case parent.Err() != nil:
		return nil, fmt.Errorf("artifact-db %s: %w", sub, parent.Err())
	case ctx.Err() != nil:
		return nil, fmt.Errorf("artifact-db %s: timed out after %v; its process group was killed", sub, c.cfg.Timeout)
	}
	if err != nil {
		msg := redact(env, strings.TrimSpace(stderr.String()))
		if notFound.MatchString(msg) {
			return nil, fmt.Errorf("artifact-db %s: %v: %s: %w", sub, err, clip([]byte(msg), 1000), pipeline.ErrArtifactNotFound)
		}
		return nil, fmt.Errorf("artifact-db %s: %w: %s", sub, err, clip([]byte(msg), 1000))
	}
	return stdout.Bytes(), nil
}

// subcommand names the run in errors: latest, get or tag set.
func subcommand(args []string) string {
	for i, a := range args {
		switch a {
		case "latest", "get":
			return a
		case "tag":
			if i+1 < len(args) {
				return "tag " + args[i+1]
			}
		}
	}
	return strings.Join(args, " ")
}

// baseEnvironment names the daemon's variables the tool gets.
var baseEnvironment = []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}

// toolEnv is the tool's whole environment: a few of the daemon's variables,
// its endpoint overrides, and creds. Never the daemon's own credentials.
func toolEnv(creds []string) []string {
	var env []string
	for _, n := range baseEnvironment {
		if v := os.Getenv(n); v != "" {
			env = append(env, n+"="+v)
		}
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL") {
			env = append(env, kv)
		}
	}
	return append(env, creds...)
}

// secretName matches the names of variables whose values must not show.
var secretName = regexp.MustCompile(`(?i)(SECRET|TOKEN|PASSWORD|PASSWD|KEY|CREDENTIAL)`)

// redact hides in s the values of env's secret-looking variables.
func redact(env []string, s string) string {
	var pairs []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && len(value) >= 4 && secretName.MatchString(name) {
			pairs = append(pairs, value, "[redacted]")
		}
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// limited keeps the first max bytes written and drops the rest, so a
// chatty tool cannot fill memory.
type limited struct {
	buf *bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
