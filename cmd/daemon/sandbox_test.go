package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"ecs-deploy/internal/testbed"
)

// TestSandboxStory builds the daemon, runs `daemon -sandbox` as a process
// with nothing on PATH but git (the Go toolchain is not needed to run the
// binary), and checks the story it prints: three deploys succeed, the
// crashing build fails at step 7 without moving traffic, the alarm rolls
// build 4 back to build 2, the manual rollback puts build 2 back, and the
// process exits 0 within a minute.
func TestSandboxStory(t *testing.T) {
	dir := t.TempDir()
	bin := testbed.Command(t, "daemon")
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	pathDir := filepath.Join(dir, "path")
	if err := os.Mkdir(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(git, filepath.Join(pathDir, "git")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-sandbox")
	cmd.Env = []string{"PATH=" + pathDir, "HOME=" + dir, "TMPDIR=" + dir}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	text := string(out)
	if err != nil {
		t.Fatalf("daemon -sandbox: %v after %v\n%s", err, took, text)
	}
	if took > time.Minute {
		t.Errorf("the story took %v, want under a minute", took)
	}
	t.Logf("daemon -sandbox took %v", took)

	parts := splitParts(t, text)
	for _, n := range []int{1, 2, 5} {
		if !strings.Contains(parts[n], "=> deploy.succeeded") {
			t.Errorf("part %d did not succeed:\n%s", n, parts[n])
		}
	}
	for n, serving := range map[int]string{1: "green build 1 serves", 2: "blue build 2 serves", 5: "green build 5 serves"} {
		if !strings.Contains(parts[n], serving) {
			t.Errorf("part %d: want %q:\n%s", n, serving, parts[n])
		}
	}
	// The crash: step 7 fails, the deploy fails, blue build 2 still serves,
	// and no line of the part shows green serving.
	crash := parts[3]
	if !regexp.MustCompile(`step  7 wait for steady state\s+FAILED\s+serving blue`).MatchString(crash) ||
		!strings.Contains(crash, "=> deploy.failed") || !strings.Contains(crash, "blue build 2 serves: as expected") ||
		strings.Contains(crash, "serving green") || strings.Contains(crash, "step  9") {
		t.Errorf("part 3 (crash) is not a failure at step 7 with traffic unmoved:\n%s", crash)
	}
	// The automatic rollback: traffic moved to build 4, then came back.
	auto := parts[4]
	if !strings.Contains(auto, "serving green  green b4 PRIMARY") || !strings.Contains(auto, "rolling back") ||
		!strings.Contains(auto, "=> deploy.rolled_back") || !strings.Contains(auto, "blue build 2 serves: as expected") ||
		!strings.Contains(auto, "alarm demo-target-5xx is in ALARM") {
		t.Errorf("part 4 is not an automatic rollback to build 2:\n%s", auto)
	}
	manual := parts[6]
	if !strings.Contains(manual, "(green build 5 serves)") || !strings.Contains(manual, "=> deploy.succeeded") ||
		!strings.Contains(manual, "blue build 2 serves: as expected") {
		t.Errorf("part 6 is not a manual rollback to build 2:\n%s", manual)
	}
	if strings.Contains(text, "NOT AS EXPECTED") || !strings.Contains(text, "downtime (a serving rule forwarding to no healthy target): 0 intervals") {
		t.Errorf("summary:\n%s", parts[7])
	}
	if rows := regexp.MustCompile(`(?m)^\d  .*  yes$`).FindAllString(parts[7], -1); len(rows) != 6 {
		t.Errorf("summary has %d rows as expected, want 6:\n%s", len(rows), parts[7])
	}
}

// splitParts splits the output at the parts' headers: [0] is the preamble,
// [1] to [6] the parts, [7] the summary.
func splitParts(t *testing.T, text string) map[int]string {
	t.Helper()
	out := map[int]string{}
	head := regexp.MustCompile(`(?m)^\[(\d)/6\] `)
	idx := head.FindAllStringIndex(text, -1)
	if len(idx) != 6 {
		t.Fatalf("found %d part headers, want 6:\n%s", len(idx), text)
	}
	out[0] = text[:idx[0][0]]
	for i := range idx {
		end := len(text)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out[i+1] = text[idx[i][0]:end]
	}
	if i := strings.Index(out[6], "\n#  operation"); i >= 0 {
		out[7] = out[6][i:]
		out[6] = out[6][:i]
	} else {
		t.Fatalf("no summary table:\n%s", text)
	}
	return out
}
