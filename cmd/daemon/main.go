// Command daemon consumes deploy requests from SQS, runs each through the
// blue/green pipeline, and publishes what happens to SNS. Several daemons
// may share one queue.
//
//	daemon -queue deploy-requests -topic-arn arn:aws:sns:...:deploy-events \
//	  -config-repo /srv/deploy-config -artifacts artifacts.json -policy policy.json
//
// Every flag has an environment variable as fallback; -h lists them.
//
// SIGTERM or SIGINT starts a shutdown within -shutdown-timeout; a second
// one exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if isSandbox(os.Args[1:]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	stopping := make(chan struct{})
	var forced atomic.Bool
	go func() {
		<-signals
		cancel()
		close(stopping)
		<-signals
		forced.Store(true)
		fmt.Fprintln(os.Stderr, "daemon: second signal: exiting now")
		m.KillCommands()
		time.Sleep(100 * time.Millisecond) // the kill reaches the commands' process groups
		os.Exit(1)
	}()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		_ = m.Close()
		os.Exit(1)
	}
	<-stopping
	err := m.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
	}
	if err != nil || forced.Load() {
		os.Exit(1)
	}
}

// NewMain returns a daemon that logs to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{stdout: stdout, stderr: stderr}
}
