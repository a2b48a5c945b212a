// Command torture runs the real daemon through a bounded storm of
// requests and faults and then checks that nothing was lost, half done
// or done twice. scripts/torture runs it.
//
// Three daemon replicas share one queue, on goaws, dynalite and the
// emulator on loopback (internal/rig). Requests for many apps arrive
// over a while, a few of them malformed on purpose and a few sent twice;
// ECS and ELBv2 throttle and fail some calls, DynamoDB fails some and
// answers late, ECS reads lag changes, and every 20 seconds one replica
// is killed with SIGKILL and started again. Then the checks: every
// request has one outcome; no lock was held twice, and no two deploys of
// one app and env overlapped; no message was lost; every service ends
// with one PRIMARY task set behind the serving rule; no downtime.
//
// It stops by itself: the load is bounded in count, the run in time. It
// prints each check, then last a line "N passed, N failed", and exits 1
// when a check failed or the run could not be carried out.
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
	"syscall"

	"ecs-deploy/internal/rig"
)

func main() {
	// The fronts' reverse proxies log each call a client gave up on: a
	// killed daemon's, here, all the time.
	log.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a reduced run, under five minutes")
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
	if *logs != "" {
		if err := os.MkdirAll(*logs, 0o755); err != nil {
			fmt.Fprintln(stderr, "torture:", err)
			return 2
		}
	}
	r, err := rig.New(ctx, rig.Config{Log: stderr, Dir: *logs})
	if err != nil {
		fmt.Fprintln(stderr, "torture:", err)
		return 1
	}
	defer r.Close()
	checks, err := torture(ctx, r, p)
	if err != nil {
		fmt.Fprintln(stderr, "torture:", err)
	}
	passed, failed := 0, 0
	for _, c := range checks {
		verdict := "PASS"
		if c.ok {
			passed++
		} else {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s  %s: %s\n", verdict, c.name, c.detail)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if err != nil || failed > 0 {
		return 1
	}
	return 0
}
