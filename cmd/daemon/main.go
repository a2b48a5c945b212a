// Command daemon consumes deploy requests from SQS, runs each through the
// blue/green pipeline, and publishes what happens to SNS. Several daemons
// may share one queue.
//
//	daemon -queue deploy-requests -topic-arn arn:aws:sns:...:deploy-events \
//	  -config-repo /srv/deploy-config -artifacts artifacts.json
//
// Every flag has an environment variable as fallback; -h lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if isSandbox(os.Args[1:]) {
		code := runSandbox(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	m := NewMain(os.Stdout, os.Stderr)
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "\n  -sandbox\n    \tplay a blue/green story against AWS stand-ins in this process; needs nothing but Go (daemon -sandbox -h lists its flags)")
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		_ = m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(1)
	}
}

// NewMain returns a daemon that logs to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{stdout: stdout, stderr: stderr}
}
