// Command enqueue builds a deploy request, checks it, sends it to the
// request queue, and with -wait follows the deploy to its end:
//
//	enqueue -app shop -env prod -sha abc1234 -config deploy-config.json -wait
//
// `enqueue status -config deploy-config.json [-app A] [-env E] [-o json]`
// prints what serves where instead, and
//
//	enqueue artifact register -project shop -build 12 -image repo/shop:12 -tag SHA=abc1234 -artifacts-table Artifacts
//
// registers a build in the DynamoDB (or file) ArtifactDB store, for CI.
//
// Exit codes: 0 succeeded (or -h), 1 failed, 2 bad usage or request, 3
// rejected by the daemon, 4 rolled back, 5 timed out waiting, 6 could not
// reach AWS or the queue, 130 interrupted (Ctrl-C) while waiting.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "status":
			run, os.Args = runStatus, os.Args[1:]
		case "artifact":
			run, os.Args = runArtifact, os.Args[1:]
		}
	}
	code, err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enqueue:", err)
	}
	os.Exit(code)
}
