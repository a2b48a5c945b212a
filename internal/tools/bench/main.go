// Command bench measures how fast the daemon is and how gently it treats
// the AWS APIs: the real daemon, as processes, against goaws, dynalite and
// the emulator on loopback (internal/rig). scripts/bench runs it.
//
// It prints progress on stderr, then on stdout a table of the figures,
// each with its target and whether it is met, and last one line of JSON
// with the figures. -quick runs a reduced version in under three minutes.
// It exits 1 when a measurement could not be taken (a deploy failed, a
// process would not start), not when a target is missed: the table says
// that.
//
// Every figure, how it is taken, and the results of the last full run are
// in docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"ecs-deploy/internal/rig"
)

func main() {
	// The fronts' reverse proxies log each call a client gave up on
	// (a daemon's long poll at its shutdown): noise here.
	log.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// measurement is one part of the benchmark: it adds its figures to r.
type measurement struct {
	name string
	run  func(ctx context.Context, b *bench) error
}

var measurements = []measurement{
	{"overhead", measureOverhead},
	{"calls", measureCalls},
	{"concurrency", measureConcurrency},
	{"takeover", measureTakeover},
	{"fanout", measureFanout},
}

// bench is one run: the rig, the plan, and the figures so far.
type bench struct {
	rig      *rig.Rig
	plan     plan
	results  *results
	defaults daemonDefaults
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a reduced run, under three minutes")
	only := fs.String("only", "", "comma-separated measurements to run (default all): "+names())
	logs := fs.String("logs", "", "keep the daemons' logs and files in this folder (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	p := fullPlan()
	if *quick {
		p = quickPlan()
	}
	selected, err := selectMeasurements(*only)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if *logs != "" {
		if err := os.MkdirAll(*logs, 0o755); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
	}
	start := time.Now()
	res := newResults(p.name)
	res.machine = machine()
	r, err := rig.New(ctx, rig.Config{Log: stderr, Dir: *logs})
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer r.Close()
	defaults, err := readDefaults(ctx, r.DaemonBin)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	b := &bench{rig: r, plan: p, results: res, defaults: defaults}
	code := 0
	for _, m := range selected {
		r.Logf("bench: %s", m.name)
		mStart := time.Now()
		if err := m.run(ctx, b); err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", m.name, err)
			res.failed = append(res.failed, m.name)
			code = 1
		}
		r.Logf("bench: %s took %v", m.name, time.Since(mStart).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	res.elapsed = time.Since(start)
	res.print(stdout)
	return code
}

func names() string {
	var n []string
	for _, m := range measurements {
		n = append(n, m.name)
	}
	return strings.Join(n, ",")
}

func selectMeasurements(only string) ([]measurement, error) {
	if only == "" {
		return measurements, nil
	}
	var out []measurement
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, m := range measurements {
			if m.name == strings.TrimSpace(name) {
				out = append(out, m)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("-only: no measurement %q (there are %s)", name, names())
		}
	}
	return out, nil
}

// machine describes where the figures come from, and its load.
func machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) >= 3 {
		return fmt.Sprintf("%s/%s, %d CPUs, load average %s %s %s at start", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), f[0], f[1], f[2])
	}
	return fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
