package configsource

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const config = `{"ConfigRegion":"us-east-1","Apps":{"shop":{"ArtifactDBProjectName":"shop",
 "ContainerDefinitionTemplates":[{"Name":"app","Image":"{{.Artifact.Value}}","PortMappings":[{"ContainerPort":80}]}],
 "Environments":{"prod":{"Cluster":"c","Family":"shop","CPU":"256","Memory":"512","Subnets":["subnet-1"],"ListenerARN":"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2",
 "TargetGroupARNs":{"blue":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b/1","green":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g/2"}}}}}}`

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "deploy.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "add", "deploy.json")
	run(t, dir, "commit", "-q", "-m", "config")
	return run(t, dir, "rev-parse", "HEAD")
}

func TestGitSource(t *testing.T) {
	origin := t.TempDir()
	run(t, origin, "init", "-q", "-b", "main")
	first := commit(t, origin, config)
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", origin, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	g := &Git{Dir: clone, Path: "deploy.json"}
	ctx := t.Context()
	l, err := g.Load(ctx, first[:12])
	if err != nil || l.SHA != first || l.Config.Apps["shop"] == nil {
		t.Fatalf("Load(first): %+v %v", l, err)
	}
	// A commit made after the clone is fetched when asked for.
	second := commit(t, origin, strings.Replace(config, `"c"`, `"c2"`, 1))
	l, err = g.Load(ctx, second)
	if err != nil || l.Config.Apps["shop"].Environments["prod"].Cluster != "c2" {
		t.Fatalf("Load(second): %+v %v", l, err)
	}
	// Without a SHA: the branch head, recorded.
	if l, err := g.Load(ctx, ""); err != nil || l.SHA != second {
		t.Fatalf("Load(head) = %s, %v; want %s", l.SHA, err, second)
	}
	if _, err := g.Load(ctx, "0123456789abcdef0123456789abcdef01234567"); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("unknown commit: %v", err)
	}
	head, err := RepoHead(ctx, filepath.Join(origin, "deploy.json"))
	if err != nil || head != second {
		t.Fatalf("RepoHead = %s %v", head, err)
	}
	if err := os.WriteFile(filepath.Join(origin, "deploy.json"), []byte(config+" "), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RepoHead(ctx, filepath.Join(origin, "deploy.json")); err == nil || !strings.Contains(err.Error(), "uncommitted") {
		t.Fatalf("RepoHead with changes: %v", err)
	}
}

func TestFileSource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "deploy.json")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := File{Path: p}.Load(t.Context(), "")
	if err != nil || l.SHA != ContentSHA([]byte(config)) {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := (File{Path: p}).Load(t.Context(), "abcdef"); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("wrong sha: %v", err)
	}
	if _, err := Inline([]byte(config), ""); err != nil {
		t.Fatal(err)
	}
}

// TestGitOnlyReviewedCommits: a commit on a feature branch, pushed but not
// merged, is refused; -config-allow-any-commit loads it.
func TestGitOnlyReviewedCommits(t *testing.T) {
	origin := t.TempDir()
	run(t, origin, "init", "-q", "-b", "main")
	commit(t, origin, config)
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", origin, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	run(t, origin, "checkout", "-q", "-b", "feature")
	unmerged := commit(t, origin, strings.Replace(config, `"c"`, `"evil"`, 1))
	g := &Git{Dir: clone, Path: "deploy.json"}
	_, err := g.Load(t.Context(), unmerged)
	if !errors.Is(err, ErrNotOnBranch) || !strings.Contains(err.Error(), "commit "+unmerged[:7]+" is not on branch main") {
		t.Fatalf("unmerged commit: %v", err)
	}
	// Refused again without another fetch for a minute.
	if _, err := g.Load(t.Context(), unmerged); !errors.Is(err, ErrNotOnBranch) {
		t.Fatalf("unmerged commit again: %v", err)
	}
	any := &Git{Dir: clone, Path: "deploy.json", AllowAnyCommit: true}
	if l, err := any.Load(t.Context(), unmerged); err != nil || l.Config.Apps["shop"].Environments["prod"].Cluster != "evil" {
		t.Fatalf("-config-allow-any-commit: %+v %v", l, err)
	}
	// Merged, it loads (the branch moved: fetched once more).
	run(t, origin, "checkout", "-q", "main")
	run(t, origin, "merge", "-q", "--ff-only", "feature")
	g.RefetchAfter = time.Millisecond
	time.Sleep(2 * time.Millisecond)
	if _, err := g.Load(t.Context(), unmerged); err != nil {
		t.Fatalf("merged commit: %v", err)
	}
}

// TestGitUnknownCommitFetchedOncePerMinute: an unknown SHA triggers one
// fetch; asked again within a minute, it is refused without fetching, and
// a fetch that hangs ends at the timeout.
func TestGitUnknownCommitFetchedOncePerMinute(t *testing.T) {
	origin := t.TempDir()
	run(t, origin, "init", "-q", "-b", "main")
	commit(t, origin, config)
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", origin, clone).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	// From now on, a fetch hangs: origin is a transport that sleeps.
	run(t, clone, "config", "protocol.ext.allow", "always")
	run(t, clone, "remote", "set-url", "origin", "ext::sleep 30")
	g := &Git{Dir: clone, Path: "deploy.json", FetchTimeout: 300 * time.Millisecond}
	const unknown = "0123456789abcdef0123456789abcdef01234567"
	start := time.Now()
	_, err := g.Load(t.Context(), unknown)
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("hanging fetch: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	_, err = g.Load(t.Context(), unknown)
	if !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "fetched less than") || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("second look: %v after %v", err, time.Since(start))
	}
}
