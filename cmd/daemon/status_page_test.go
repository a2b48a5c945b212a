package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ecs-deploy/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveCommands()
	os.Exit(code)
}

// chromium finds Debian's chromium, which .ci/run installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: apt-get install chromium (.ci/run does)")
	return ""
}

type pageDeploy struct {
	ID    string     `json:"id"`
	Final string     `json:"final"`
	Mode  string     `json:"mode"`
	Steps []pageStep `json:"steps"`
}

type pageStep struct {
	Step  int    `json:"step"`
	State string `json:"state"`
}

type pageApp struct {
	App     string `json:"app"`
	Env     string `json:"env"`
	Serving string `json:"serving"`
}

// TestStatusPageInChromium runs `daemon -sandbox -serve`, loads its status
// page in headless Chromium, and finds what the story did: demo prod
// served by blue, and the six deploys with their steps. The screenshot is
// kept in .artifacts/status-page.png (ignored by git).
func TestStatusPageInChromium(t *testing.T) {
	browser := chromium(t)
	bin := testbed.Command(t, "daemon")
	dir := t.TempDir()
	port := testbed.FreePort(t)
	cmd := exec.Command(bin, "-sandbox", "-serve", "-listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan string, 1)
	var output strings.Builder
	var outMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			outMu.Lock()
			output.WriteString(sc.Text() + "\n")
			outMu.Unlock()
			if m := regexp.MustCompile(`Status page: (http://\S+/)`).FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("daemon -sandbox -serve did not stop within 30s of SIGTERM")
		}
	}
	t.Cleanup(func() { _ = stop() })
	var url string
	select {
	case url = <-ready:
	case err := <-exited:
		t.Fatalf("daemon -sandbox -serve exited (%v):\n%s\n%s", err, output.String(), stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("the sandbox story did not end within 90s:\n%s", output.String())
	}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("apps"))); err != nil {
		t.Fatalf("chromium: load %s: %v", url, err)
	}
	deploys, err := chromedp.Run(ctx, chromedp.Evaluate[[]pageDeploy](`Array.from(document.querySelectorAll("section.deploy")).map(s => ({
		id: s.dataset.deployId, final: s.dataset.final, mode: s.dataset.mode,
		steps: Array.from(s.querySelectorAll("li.step")).map(l => ({step: Number(l.dataset.step), state: l.dataset.state}))}))`))
	if err != nil {
		t.Fatalf("chromium: read the deploys: %v", err)
	}
	apps, err := chromedp.Run(ctx, chromedp.Evaluate[[]pageApp](`Array.from(document.querySelectorAll("tr.app")).map(r => ({app: r.dataset.app, env: r.dataset.env, serving: r.dataset.serving}))`))
	if err != nil {
		t.Fatalf("chromium: read the apps: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	root, err := testbed.Root()
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(root, ".artifacts", "status-page.png")
	if err := os.MkdirAll(filepath.Dir(shotPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))

	if len(apps) != 1 || apps[0] != (pageApp{App: "demo", Env: "prod", Serving: "blue"}) {
		t.Errorf("apps on the page: %+v, want demo prod served by blue", apps)
	}
	if len(deploys) != 6 {
		t.Fatalf("%d deploys on the page, want 6: %+v", len(deploys), deploys)
	}
	// Newest first: the manual rollback, build 5, the rolled-back build 4,
	// the crashed build 3, builds 2 and 1.
	want := []struct{ mode, final string }{
		{"rollback", "deploy.succeeded"}, {"deploy", "deploy.succeeded"}, {"start-over", "deploy.rolled_back"},
		{"deploy", "deploy.failed"}, {"deploy", "deploy.succeeded"}, {"deploy", "deploy.succeeded"},
	}
	for i, w := range want {
		if d := deploys[i]; d.Mode != w.mode || d.Final != w.final {
			t.Errorf("deploy %d on the page: %s %s, want %s %s", i, d.Mode, d.Final, w.mode, w.final)
		}
	}
	steps := func(d pageDeploy) string {
		var parts []string
		for _, s := range d.Steps {
			parts = append(parts, fmt.Sprintf("%d:%s", s.Step, s.State))
		}
		return strings.Join(parts, " ")
	}
	full := "2:ok 3:ok 4:ok 5:ok 6:ok 7:ok 8:ok 9:ok 10:ok 11:ok 12:ok"
	for _, i := range []int{1, 4, 5} {
		if got := steps(deploys[i]); got != full {
			t.Errorf("steps of deploy %s: %s, want %s", deploys[i].ID, got, full)
		}
	}
	if got := steps(deploys[3]); got != "2:ok 3:ok 4:ok 5:ok 6:ok 7:failed" {
		t.Errorf("steps of the crashed deploy: %s", got)
	}
	// Build 4: the bake (11) found the alarm; 9 and 10 ran again to put
	// build 2 back.
	if got := steps(deploys[2]); !strings.HasPrefix(got, "2:ok 3:ok 4:ok 5:ok 6:ok 7:ok 8:ok 9:ok 10:ok 11:interrupted ") || !strings.HasSuffix(got, "9:ok 10:ok 12:ok") {
		t.Errorf("steps of the rolled-back deploy: %s", got)
	}
	if got := steps(deploys[0]); got != "9:ok 10:ok 12:ok" {
		t.Errorf("steps of the manual rollback: %s", got)
	}
	if err := stop(); err != nil {
		t.Errorf("daemon -sandbox -serve: %v\n%s", err, stderr.String())
	}
}
