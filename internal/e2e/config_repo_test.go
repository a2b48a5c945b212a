package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// configRepo makes a git repository "config-origin" holding the world's
// config on main, and the daemons' clone of it, "config-clone". It returns
// main's commit.
func (w *world) configRepo() string {
	w.t.Helper()
	origin := filepath.Join(w.dir, "config-origin")
	if err := os.MkdirAll(origin, 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.git(origin, "init", "-q", "-b", "main")
	b, err := os.ReadFile(filepath.Join(w.dir, "deploy-config.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	head := w.commitConfig(string(b))
	if out, err := exec.Command("git", "clone", "-q", origin, filepath.Join(w.dir, "config-clone")).CombinedOutput(); err != nil {
		w.t.Fatalf("clone: %v %s", err, out)
	}
	return head
}

// commitConfig commits content as deploy-config.json on the origin's
// current branch and returns the commit.
func (w *world) commitConfig(content string) string {
	w.t.Helper()
	origin := filepath.Join(w.dir, "config-origin")
	if err := os.WriteFile(filepath.Join(origin, "deploy-config.json"), []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.git(origin, "add", "deploy-config.json")
	w.git(origin, "commit", "-q", "-m", "config")
	return w.git(origin, "rev-parse", "HEAD")
}

func (w *world) git(dir string, args ...string) string {
	w.t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=e2e@example.com", "-c", "user.name=e2e"}, args...)...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
