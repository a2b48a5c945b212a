package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built holds the commands Command has compiled in this test binary.
var built struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string
}

// Command builds this module's cmd/<name> once per test binary and returns
// the path of the binary. Tests run it as a process, as a user would.
// A test binary that calls it removes the binaries with RemoveCommands
// from its TestMain.
func Command(t testing.TB, name string) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.paths[name]; ok {
		return p
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "ecs-deploy-commands")
		if err != nil {
			t.Fatal(err)
		}
		built.dir, built.paths = dir, map[string]string{}
	}
	p := filepath.Join(built.dir, name)
	cmd := exec.Command("go", "build", "-o", p, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out))
	}
	built.paths[name] = p
	return p
}

// RemoveCommands deletes what Command built.
func RemoveCommands() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
