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

// Git reads the config file at a commit of a local clone, fetching from its
// origin when the commit is unknown. Without a commit it uses the branch's
// head on origin.
type Git struct {
	// Dir is the clone.
	Dir string
	// Path is the config file within the repository.
	Path string
	// Branch is the branch whose head is "current". Default "main".
	Branch string

	mu    sync.Mutex
	cache map[string]Loaded
}

var commitPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

func (g *Git) Load(ctx context.Context, sha string) (Loaded, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sha == "" {
		if err := g.fetch(ctx); err != nil {
			return Loaded{}, err
		}
		head, err := g.git(ctx, "rev-parse", "refs/remotes/origin/"+g.branch())
		if err != nil {
			head, err = g.git(ctx, "rev-parse", "refs/heads/"+g.branch())
		}
		if err != nil {
			return Loaded{}, fmt.Errorf("head of branch %s: %w", g.branch(), err)
		}
		sha = strings.TrimSpace(head)
	}
	if !commitPattern.MatchString(sha) {
		return Loaded{}, fmt.Errorf("%w: %q is not a commit SHA", ErrUnknownVersion, sha)
	}
	if l, ok := g.cache[sha]; ok {
		return l, nil
	}
	full, err := g.git(ctx, "rev-parse", "--verify", "--quiet", sha+"^{commit}")
	if err != nil {
		if err := g.fetch(ctx); err != nil {
			return Loaded{}, err
		}
		if full, err = g.git(ctx, "rev-parse", "--verify", "--quiet", sha+"^{commit}"); err != nil {
			return Loaded{}, fmt.Errorf("%w: commit %s is not in the config repository %s", ErrUnknownVersion, sha, g.Dir)
		}
	}
	full = strings.TrimSpace(full)
	content, err := g.git(ctx, "show", full+":"+g.Path)
	if err != nil {
		return Loaded{}, fmt.Errorf("%w: %s does not exist at commit %s", ErrUnknownVersion, g.Path, full)
	}
	cfg, err := pipeline.LoadConfig(strings.NewReader(content))
	if err != nil {
		return Loaded{}, fmt.Errorf("%s at %s: %w", g.Path, full, err)
	}
	l := Loaded{Config: cfg, SHA: full}
	if g.cache == nil {
		g.cache = map[string]Loaded{}
	}
	g.cache[sha], g.cache[full] = l, l
	return l, nil
}

func (g *Git) branch() string {
	if g.Branch == "" {
		return "main"
	}
	return g.Branch
}

// fetch updates the clone from origin; a repository without an origin has
// nothing to fetch.
func (g *Git) fetch(ctx context.Context) error {
	if _, err := g.git(ctx, "remote", "get-url", "origin"); err != nil {
		return nil
	}
	if _, err := g.git(ctx, "fetch", "--quiet", "origin"); err != nil {
		return fmt.Errorf("fetch config repository %s: %w", g.Dir, err)
	}
	return nil
}

// git runs git as argv in the clone.
func (g *Git) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.Dir}, args...)...)
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
