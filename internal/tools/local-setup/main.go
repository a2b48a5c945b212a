// Command local-setup is the helper of scripts/local-up and of the compose
// file in deploy/docker. It prints free loopback ports (-free-ports N),
// waits for a URL to answer (-wait), or, with the AWS_ENDPOINT_URL_*
// variables pointing at a running goaws, DynamoDB stand-in and awsim,
// creates the queues, topic, subscriptions and tables (sandbox.Provision),
// writes a deploy config and an artifacts file for the apps awsim seeded
// (its JSON line, -seeded, or seeded here through its controls, -awsim),
// and prints the topic's ARN.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/sandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local-setup:", err)
		os.Exit(1)
	}
}

func run() error {
	freePorts := flag.Int("free-ports", 0, "print this many free loopback ports, one a line, and exit")
	seeded := flag.String("seeded", "", "file holding awsim's -seed output line")
	simURL := flag.String("awsim", "", "instead of -seeded: seed the apps of -seed-app through this emulator's control API")
	seedApps := flag.String("seed-app", "demo", "with -awsim: comma-separated apps to seed")
	dir := flag.String("dir", ".", "where to write deploy-config.json and artifacts.json")
	env := flag.String("env", "prod", "environment name of the seeded apps")
	bake := flag.Duration("bake", 2*time.Second, "BakeTime of the seeded apps' environment")
	wait := flag.String("wait", "", "wait until this URL answers (any status; with -ok, status 200) and exit")
	ok := flag.Bool("ok", false, "with -wait: wait for status 200")
	timeout := flag.Duration("timeout", 30*time.Second, "with -wait: give up after this long")
	flag.Parse()
	if *wait != "" {
		return waitFor(*wait, *ok, *timeout)
	}
	if *freePorts > 0 {
		var lns []net.Listener
		defer func() {
			for _, ln := range lns {
				ln.Close()
			}
		}()
		for range *freePorts {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			lns = append(lns, ln)
			fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		}
		return nil
	}
	var apps []awsim.Seeded
	if *simURL != "" {
		for _, name := range strings.Split(*seedApps, ",") {
			sd, err := seed(*simURL, strings.TrimSpace(name))
			if err != nil {
				return err
			}
			apps = append(apps, sd)
		}
	} else {
		b, err := os.ReadFile(*seeded)
		if err != nil {
			return err
		}
		var line struct {
			Seeded []awsim.Seeded `json:"seeded"`
		}
		if err := json.Unmarshal(b, &line); err != nil || len(line.Seeded) == 0 {
			return fmt.Errorf("%s holds no seeded app (%v)", *seeded, err)
		}
		apps = line.Seeded
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	res, err := sandbox.Provision(ctx, cfg, sandbox.DefaultNames(), 60*time.Second)
	if err != nil {
		return err
	}
	if _, err := sandbox.WriteFiles(*dir, apps, sandbox.FilesConfig{Env: *env, BakeTime: *bake}); err != nil {
		return err
	}
	fmt.Println(res.TopicArn)
	return nil
}

// waitFor polls url until it answers, or answers 200 when ok is set.
func waitFor(url string, ok bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if !ok || resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %v: %v", url, timeout, last)
}

// seed seeds an app through the emulator's control API.
func seed(simURL, name string) (awsim.Seeded, error) {
	body, _ := json.Marshal(awsim.Scenario{Name: name})
	resp, err := http.Post(strings.TrimSuffix(simURL, "/")+"/_awsim/seed", "application/json", bytes.NewReader(body))
	if err != nil {
		return awsim.Seeded{}, fmt.Errorf("seed %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return awsim.Seeded{}, fmt.Errorf("seed %s: %s: %s", name, resp.Status, b)
	}
	var sd awsim.Seeded
	if err := json.Unmarshal(b, &sd); err != nil {
		return awsim.Seeded{}, fmt.Errorf("seed %s: %w", name, err)
	}
	return sd, nil
}
