// Package configsource finds the deploy config a request names: a commit of
// a git repository, a plain file, or (when allowed) the request itself.
package configsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"ecs-deploy/pipeline"
)

// ErrUnknownVersion is returned when the named config version does not
// exist: a request error, not a passing failure.
var ErrUnknownVersion = errors.New("unknown config version")

// Loaded is a config and the SHA that identifies it.
type Loaded struct {
	Config *pipeline.DeployConfig
	SHA    string
}

// Source loads the config a request names; sha may be empty for "current".
type Source interface {
	Load(ctx context.Context, sha string) (Loaded, error)
}

// ContentSHA is the sha256 of a config file's bytes, as hex.
func ContentSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// File is a plain config file. Its SHA is given, or the sha256 of its bytes.
type File struct {
	Path string
	// SHA names the file's version; default: its content's sha256.
	SHA string
}

func (f File) Load(_ context.Context, sha string) (Loaded, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return Loaded{}, err
	}
	have := f.SHA
	if have == "" {
		have = ContentSHA(b)
	}
	if sha != "" && !strings.EqualFold(sha, have) {
		return Loaded{}, fmt.Errorf("%w: config_sha %s, but the config file %s is version %s", ErrUnknownVersion, sha, f.Path, have)
	}
	cfg, err := pipeline.LoadConfig(bytes.NewReader(b))
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: %w", f.Path, err)
	}
	return Loaded{Config: cfg, SHA: have}, nil
}

// Inline loads a config carried in a request; its SHA is its sha256.
func Inline(raw []byte, sha string) (Loaded, error) {
	have := ContentSHA(raw)
	if sha != "" && !strings.EqualFold(sha, have) {
		return Loaded{}, fmt.Errorf("%w: config_sha %s, but the config in the request is version %s", ErrUnknownVersion, sha, have)
	}
	cfg, err := pipeline.LoadConfig(bytes.NewReader(raw))
	if err != nil {
		return Loaded{}, fmt.Errorf("config in the request: %w", err)
	}
	return Loaded{Config: cfg, SHA: have}, nil
}

// ErrNotOnBranch is returned for a commit that is not on the reviewed
// branch: a request error.
var ErrNotOnBranch = errors.New("commit not on the config branch")

// Git reads the config file at a commit of a local clone, fetching from its
// origin when the commit is unknown. Without a commit it uses the branch's
// head on origin. Only commits on the branch (reviewed and merged) are
// loaded, unless AllowAnyCommit.
type Git struct {
	// Dir is the clone.
	Dir string
	// Path is the config file within the repository.
	Path string
	// Branch is the branch whose head is "current", and which every commit
	// loaded must be on. Default "main".
	Branch string
	// AllowAnyCommit loads commits that are not on Branch too.
	AllowAnyCommit bool
	// FetchTimeout bounds each git fetch. Default 30s.
	FetchTimeout time.Duration
	// RefetchAfter is how long a commit that a fetch did not find (or did
	// not find on Branch) is refused without fetching again. Default 1m.
	RefetchAfter time.Duration

	mu       sync.Mutex
	cache    map[string]Loaded
	tried    map[string]time.Time
	fetching chan struct{}
	fetchErr error
}

var commitPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// Load returns the config at commit sha, or at the branch's head. A fetch
// runs only when needed, with a timeout, and holds no lock that requests
// for known commits wait on; concurrent loads that need one share it.
func (g *Git) Load(ctx context.Context, sha string) (Loaded, error) {
	if sha == "" {
		if err := g.fetch(ctx); err != nil {
			return Loaded{}, err
		}
		head, err := g.branchHead(ctx)
		if err != nil {
			return Loaded{}, err
		}
		sha = head
	}
	if !commitPattern.MatchString(sha) {
		return Loaded{}, fmt.Errorf("%w: %q is not a commit SHA", ErrUnknownVersion, sha)
	}
	g.mu.Lock()
	l, ok := g.cache[strings.ToLower(sha)]
	g.mu.Unlock()
	if ok {
		return l, nil
	}
	full, err := g.resolve(ctx, sha)
	if err != nil {
		if !g.mayFetch(sha) {
			return Loaded{}, fmt.Errorf("%w: commit %s is not in the config repository %s (fetched less than %v ago)", ErrUnknownVersion, sha, g.Dir, g.refetchAfter())
		}
		if err := g.fetch(ctx); err != nil {
			return Loaded{}, err
		}
		if full, err = g.resolve(ctx, sha); err != nil {
			return Loaded{}, fmt.Errorf("%w: commit %s is not in the config repository %s", ErrUnknownVersion, sha, g.Dir)
		}
	}
	if !g.AllowAnyCommit {
		on, err := g.onBranch(ctx, full)
		if err != nil {
			return Loaded{}, err
		}
		if !on && g.mayFetch(full) {
			// The branch may have moved since the last fetch.
			if err := g.fetch(ctx); err != nil {
				return Loaded{}, err
			}
			if on, err = g.onBranch(ctx, full); err != nil {
				return Loaded{}, err
			}
		}
		if !on {
			return Loaded{}, fmt.Errorf("%w: commit %s is not on branch %s", ErrNotOnBranch, full[:min(7, len(full))], g.branch())
		}
	}
	content, err := g.git(ctx, "show", full+":"+g.Path)
	if err != nil {
		return Loaded{}, fmt.Errorf("%w: %s does not exist at commit %s", ErrUnknownVersion, g.Path, full)
	}
	cfg, err := pipeline.LoadConfig(strings.NewReader(content))
	if err != nil {
		return Loaded{}, fmt.Errorf("%s at %s: %w", g.Path, full, err)
	}
	l = Loaded{Config: cfg, SHA: full}
	g.mu.Lock()
	if g.cache == nil {
		g.cache = map[string]Loaded{}
	}
	g.cache[strings.ToLower(sha)], g.cache[full] = l, l
	g.mu.Unlock()
	return l, nil
}

func (g *Git) branch() string {
	if g.Branch == "" {
		return "main"
	}
	return g.Branch
}

func (g *Git) refetchAfter() time.Duration {
	if g.RefetchAfter == 0 {
		return time.Minute
	}
	return g.RefetchAfter
}

// mayFetch says whether a fetch may look for key now: at most once per
// RefetchAfter for each commit.
func (g *Git) mayFetch(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	key = strings.ToLower(key)
	if t, ok := g.tried[key]; ok && time.Since(t) < g.refetchAfter() {
		return false
	}
	if g.tried == nil {
		g.tried = map[string]time.Time{}
	}
	for k, t := range g.tried {
		if time.Since(t) >= g.refetchAfter() {
			delete(g.tried, k)
		}
	}
	g.tried[key] = time.Now()
	return true
}

// branchRef is the branch on origin, or the local branch without one.
func (g *Git) branchRef(ctx context.Context) (string, error) {
	for _, ref := range []string{"refs/remotes/origin/" + g.branch(), "refs/heads/" + g.branch()} {
		if _, err := g.git(ctx, "rev-parse", "--verify", "--quiet", ref); err == nil {
			return ref, nil
		}
	}
	return "", fmt.Errorf("the config repository %s has no branch %s", g.Dir, g.branch())
}

func (g *Git) branchHead(ctx context.Context) (string, error) {
	ref, err := g.branchRef(ctx)
	if err != nil {
		return "", err
	}
	head, err := g.git(ctx, "rev-parse", ref)
	if err != nil {
		return "", fmt.Errorf("head of branch %s: %w", g.branch(), err)
	}
	return strings.TrimSpace(head), nil
}

func (g *Git) resolve(ctx context.Context, sha string) (string, error) {
	full, err := g.git(ctx, "rev-parse", "--verify", "--quiet", sha+"^{commit}")
	return strings.TrimSpace(full), err
}

// onBranch says whether commit full is on the branch (merge-base
// --is-ancestor: the branch's head is it or descends from it).
func (g *Git) onBranch(ctx context.Context, full string) (bool, error) {
	ref, err := g.branchRef(ctx)
	if err != nil {
		return false, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", g.Dir, "merge-base", "--is-ancestor", full, ref)
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("is %s on branch %s: %w", full, g.branch(), err)
}

// fetch updates the clone from origin, within FetchTimeout; a repository
// without an origin has nothing to fetch. Loads that need a fetch while
// one runs wait for that one.
func (g *Git) fetch(ctx context.Context) error {
	g.mu.Lock()
	if ch := g.fetching; ch != nil {
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
		err := g.fetchErr
		g.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	g.fetching = ch
	g.mu.Unlock()

	err := g.doFetch(ctx)
	g.mu.Lock()
	g.fetching, g.fetchErr = nil, err
	g.mu.Unlock()
	close(ch)
	return err
}

func (g *Git) doFetch(ctx context.Context) error {
	if _, err := g.git(ctx, "remote", "get-url", "origin"); err != nil {
		return nil
	}
	timeout := g.FetchTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := g.git(ctx, "fetch", "--quiet", "origin"); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch config repository %s: no answer within %v", g.Dir, timeout)
		}
		return fmt.Errorf("fetch config repository %s: %w", g.Dir, err)
	}
	return nil
}

// git runs git as argv in the clone, never prompting for credentials.
func (g *Git) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	// In its own process group, killed whole when ctx ends: a transport
	// helper that hangs goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// RepoHead returns the commit of HEAD in the repository holding path, and
// refuses a file with uncommitted changes: the SHA would not name it.
func RepoHead(ctx context.Context, path string) (string, error) {
	dir, file := filepath.Dir(path), filepath.Base(path)
	g := &Git{Dir: dir}
	if out, err := g.git(ctx, "status", "--porcelain", "--", file); err != nil {
		return "", fmt.Errorf("%s is not in a git repository: %w", path, err)
	} else if strings.TrimSpace(out) != "" {
		return "", fmt.Errorf("%s has uncommitted changes; commit them or give -config-sha", path)
	}
	head, err := g.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(head), nil
}
