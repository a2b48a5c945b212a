// Command awsim serves the ECS, ELBv2 and CloudWatch emulator on one
// address, for demos and for pointing the AWS CLI or an SDK at it:
//
//	go run ./cmd/awsim -listen 127.0.0.1:4599 -seed demo
//
// With -seed it creates a blue/green scenario and prints what it created as
// one JSON line on stdout. It runs until interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"ecs-deploy/internal/awsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "awsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("awsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4599", "address to serve on")
	seed := fs.String("seed", "", "comma-separated app names to seed as blue/green scenarios (e.g. demo)")
	scale := fs.Float64("scale", 1, "simulated seconds per real second")
	region := fs.String("region", "us-east-1", "region used in ARNs")
	account := fs.String("account", "123456789012", "account ID used in ARNs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sim, err := awsim.New(awsim.Config{Region: *region, AccountID: *account, TimeScale: *scale})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	out := map[string]any{"endpoint": "http://" + ln.Addr().String()}
	if *seed != "" {
		var seeded []awsim.Seeded
		for _, name := range strings.Split(*seed, ",") {
			sd, err := sim.Seed(awsim.Scenario{Name: strings.TrimSpace(name)})
			if err != nil {
				ln.Close()
				return err
			}
			seeded = append(seeded, sd)
		}
		out["seeded"] = seeded
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
