package artifactdb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/testbed"
	"ecs-deploy/pipeline"
)

// storeUnderTest is a store and the way to put builds into it.
type storeUnderTest interface {
	artifactdb.Store
	artifactdb.Registrar
}

// cliUnderTest is the CLI store; builds go into the fake tool's state file.
type cliUnderTest struct {
	*artifactdb.CLI
	artifactdb.File
}

func (c cliUnderTest) FindArtifact(ctx context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	return c.CLI.FindArtifact(ctx, project, sel)
}

func (c cliUnderTest) GetBuild(ctx context.Context, project string, build int) (pipeline.Artifact, error) {
	return c.CLI.GetBuild(ctx, project, build)
}

func (c cliUnderTest) RecordResult(ctx context.Context, r artifactdb.Result) error {
	return c.CLI.RecordResult(ctx, r)
}

// factory makes an empty store for one case.
type factory func(t *testing.T) storeUnderTest

func cliFactory(t *testing.T) storeUnderTest {
	state := filepath.Join(t.TempDir(), "artifacts.json")
	cli, err := artifactdb.NewCLI(artifactdb.CLIConfig{Path: fakeToolPath(t), Region: "us-east-1",
		Env: func(context.Context) ([]string, error) {
			// GORACE: a race-enabled binary otherwise sleeps 1s at exit.
			return []string{"GORACE=atexit_sleep_ms=0", "FAKE_ARTIFACTDB_STATE=" + state, "FAKE_ARTIFACTDB_WANT_KEY=AKIACONFIGACCOUNT",
				"AWS_ACCESS_KEY_ID=AKIACONFIGACCOUNT", "AWS_SECRET_ACCESS_KEY=config-secret"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return cliUnderTest{CLI: cli, File: artifactdb.File{Path: state}}
}

func fileFactory(t *testing.T) storeUnderTest {
	return artifactdb.File{Path: filepath.Join(t.TempDir(), "artifacts.json")}
}

// dynamoFactory starts dynalite once; each case gets its own table.
func dynamoFactory(t *testing.T) factory {
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(testbed.Dynalite(t))})
	var n atomic.Int32
	return func(t *testing.T) storeUnderTest {
		s := artifactdb.Dynamo{DB: db, Table: fmt.Sprintf("Artifacts%d", n.Add(1))}
		if err := s.CreateTable(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestArtifactDBConformance runs one suite against every store.
func TestArtifactDBConformance(t *testing.T) {
	stores := []struct {
		name string
		new  factory
	}{
		{"cli", cliFactory},
		{"dynamodb", dynamoFactory(t)},
		{"file", fileFactory},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, s.new(t)) })
			}
		})
	}
}

const (
	configSHA  = "0123456789abcdef0123456789abcdef01234567"
	configSHA8 = "01234567"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, s storeUnderTest)
}{
	{"find by SHA: the latest build wins", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		register(t, s, 2, "bbb")
		register(t, s, 3, "aaa")
		a, err := s.FindArtifact(t.Context(), "shop", pipeline.Selector{SHA: "aaa"})
		if err != nil || a.BuildNumber != 3 || a.Value != "shop:3" || a.Tags["SHA"] != "aaa" || a.Tags["branch"] != "main" {
			t.Fatalf("FindArtifact SHA=aaa = %+v, %v; want build 3 with its tags", a, err)
		}
	}},
	{"find by build", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		register(t, s, 2, "bbb")
		for _, get := range []func() (pipeline.Artifact, error){
			func() (pipeline.Artifact, error) {
				return s.FindArtifact(t.Context(), "shop", pipeline.Selector{Build: 1})
			},
			func() (pipeline.Artifact, error) { return s.GetBuild(t.Context(), "shop", 1) },
		} {
			if a, err := get(); err != nil || a.BuildNumber != 1 || a.Value != "shop:1" || a.Tags["SHA"] != "aaa" {
				t.Fatalf("build 1 = %+v, %v", a, err)
			}
		}
	}},
	{"not found", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		for name, sel := range map[string]struct {
			project string
			sel     pipeline.Selector
		}{
			"unknown SHA":     {"shop", pipeline.Selector{SHA: "zzz"}},
			"unknown build":   {"shop", pipeline.Selector{Build: 9}},
			"unknown project": {"cart", pipeline.Selector{SHA: "aaa"}},
		} {
			if a, err := s.FindArtifact(t.Context(), sel.project, sel.sel); !errors.Is(err, pipeline.ErrArtifactNotFound) {
				t.Errorf("%s: FindArtifact = %+v, %v; want ErrArtifactNotFound", name, a, err)
			}
		}
		err := s.RecordResult(t.Context(), result(9, "dev", artifactdb.Success, t0))
		if !errors.Is(err, pipeline.ErrArtifactNotFound) {
			t.Errorf("RecordResult on an unknown build = %v; want ErrArtifactNotFound", err)
		}
	}},
	{"record success and failure", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		record(t, s, result(1, "dev", artifactdb.Success, t0))
		record(t, s, result(1, "test", artifactdb.Failure, t0.Add(time.Minute)))
		wantTags(t, s, 1, map[string]string{
			"deploy-dev-" + configSHA8:             "success",
			"deploy-dev-" + configSHA8 + "-ended":  "2025-03-01T12:00:00.000000000Z",
			"deploy-test-" + configSHA8:            "failure",
			"deploy-test-" + configSHA8 + "-ended": "2025-03-01T12:01:00.000000000Z",
			"SHA":                                  "aaa",
		})
	}},
	{"a late failure never overwrites a later success", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		record(t, s, result(1, "dev", artifactdb.Success, t0.Add(2*time.Minute)))
		record(t, s, result(1, "dev", artifactdb.Failure, t0.Add(time.Minute)))
		wantResult(t, s, 1, "dev", "success", t0.Add(2*time.Minute))
		// At the same moment a success beats a failure.
		record(t, s, result(1, "dev", artifactdb.Failure, t0.Add(2*time.Minute)))
		wantResult(t, s, 1, "dev", "success", t0.Add(2*time.Minute))
		// A failure that ended later is the latest word, and a success that
		// ended before it does not undo it.
		record(t, s, result(1, "dev", artifactdb.Failure, t0.Add(3*time.Minute)))
		wantResult(t, s, 1, "dev", "failure", t0.Add(3*time.Minute))
		record(t, s, result(1, "dev", artifactdb.Success, t0.Add(2*time.Minute)))
		wantResult(t, s, 1, "dev", "failure", t0.Add(3*time.Minute))
	}},
	{"a result over one the original tool wrote", func(t *testing.T, s storeUnderTest) {
		// The original wrote the tag alone, with no time: any result is newer.
		s.Register(t.Context(), "shop", pipeline.Artifact{BuildNumber: 1, Value: "shop:1",
			Tags: map[string]string{"SHA": "aaa", "deploy-dev-" + configSHA8: "success"}})
		record(t, s, result(1, "dev", artifactdb.Failure, t0))
		wantResult(t, s, 1, "dev", "failure", t0)
	}},
	{"idempotent re-record", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		for range 2 {
			record(t, s, result(1, "dev", artifactdb.Success, t0))
			record(t, s, result(1, "test", artifactdb.Failure, t0))
		}
		wantResult(t, s, 1, "dev", "success", t0)
		wantResult(t, s, 1, "test", "failure", t0)
	}},
	{"the gate reads the previous environment's tag", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		gate := artifactdb.Gate{Store: s}
		sel := pipeline.Selector{SHA: "aaa"}
		if _, err := gate.Check(t.Context(), "shop", sel, "dev", configSHA); !errors.Is(err, pipeline.ErrGate) ||
			!strings.Contains(err.Error(), "deploy-dev-"+configSHA8) {
			t.Fatalf("gate before dev = %v; want ErrGate naming the tag", err)
		}
		record(t, s, result(1, "dev", artifactdb.Failure, t0))
		if _, err := gate.Check(t.Context(), "shop", sel, "dev", configSHA); !errors.Is(err, pipeline.ErrGate) {
			t.Fatalf("gate after a failure in dev = %v; want ErrGate", err)
		}
		record(t, s, result(1, "dev", artifactdb.Success, t0.Add(time.Minute)))
		// The 8-character form written by a full SHA matches the short one.
		for _, sha := range []string{configSHA, configSHA8} {
			if a, err := gate.Check(t.Context(), "shop", sel, "dev", sha); err != nil || a.BuildNumber != 1 {
				t.Fatalf("gate after success in dev, config %s = %+v, %v", sha, a, err)
			}
		}
		if _, err := gate.Check(t.Context(), "shop", sel, "dev", "fedcba9876543210"); !errors.Is(err, pipeline.ErrGate) {
			t.Fatalf("gate with another config = %v; want ErrGate", err)
		}
		if _, err := gate.Check(t.Context(), "shop", sel, "", configSHA); err != nil {
			t.Fatalf("no previous environment required: %v", err)
		}
	}},
	{"the gate waits for a result on its way", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		var slept time.Duration
		gate := artifactdb.Gate{Store: s, Wait: 10 * time.Second, Poll: 2 * time.Second,
			Sleep: func(ctx context.Context, d time.Duration) error {
				slept += d
				if slept == 4*time.Second { // the recorder catches up
					record(t, s, result(1, "dev", artifactdb.Success, t0))
				}
				return nil
			}}
		if a, err := gate.Check(t.Context(), "shop", pipeline.Selector{SHA: "aaa"}, "dev", configSHA); err != nil || a.BuildNumber != 1 || slept != 4*time.Second {
			t.Fatalf("gate = %+v, %v after %v; want build 1 after 4s", a, err, slept)
		}
		slept = 0
		_, err := gate.Check(t.Context(), "shop", pipeline.Selector{SHA: "aaa"}, "test", configSHA)
		if !errors.Is(err, pipeline.ErrGate) || !strings.Contains(err.Error(), "waited 10s") || slept != 10*time.Second {
			t.Fatalf("gate on test = %v after %v; want ErrGate after waiting 10s", err, slept)
		}
	}},
	{"register twice", func(t *testing.T, s storeUnderTest) {
		register(t, s, 1, "aaa")
		if err := s.Register(t.Context(), "shop", pipeline.Artifact{BuildNumber: 1, Value: "shop:1", Tags: map[string]string{"signed": "yes"}}); err != nil {
			t.Fatalf("same build again: %v", err)
		}
		if err := s.Register(t.Context(), "shop", pipeline.Artifact{BuildNumber: 1, Value: "other:1"}); !errors.Is(err, artifactdb.ErrBuildExists) {
			t.Fatalf("another artifact under build 1: %v; want ErrBuildExists", err)
		}
		a, err := s.GetBuild(t.Context(), "shop", 1)
		if err != nil || a.Value != "shop:1" || a.Tags["signed"] != "yes" || a.Tags["SHA"] != "aaa" {
			t.Fatalf("build 1 = %+v, %v", a, err)
		}
	}},
}

func register(t *testing.T, s artifactdb.Registrar, build int, sha string) {
	t.Helper()
	a := pipeline.Artifact{BuildNumber: build, Value: fmt.Sprintf("shop:%d", build), Tags: map[string]string{"SHA": sha, "branch": "main"}}
	if err := s.Register(t.Context(), "shop", a); err != nil {
		t.Fatal(err)
	}
}

func result(build int, env string, o artifactdb.Outcome, ended time.Time) artifactdb.Result {
	return artifactdb.Result{Project: "shop", Build: build, Env: env, ConfigSHA: configSHA, Outcome: o, EndedAt: ended}
}

func record(t *testing.T, s artifactdb.Store, r artifactdb.Result) {
	t.Helper()
	if err := s.RecordResult(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func wantResult(t *testing.T, s artifactdb.Store, build int, env, outcome string, ended time.Time) {
	t.Helper()
	a, err := s.GetBuild(t.Context(), "shop", build)
	if err != nil {
		t.Fatal(err)
	}
	tag := "deploy-" + env + "-" + configSHA8
	if a.Tags[tag] != outcome || a.Tags[tag+"-ended"] != ended.UTC().Format("2006-01-02T15:04:05.000000000Z") {
		t.Fatalf("build %d: %s=%q ended %q; want %s ended %v", build, tag, a.Tags[tag], a.Tags[tag+"-ended"], outcome, ended)
	}
}

func wantTags(t *testing.T, s artifactdb.Store, build int, want map[string]string) {
	t.Helper()
	a, err := s.GetBuild(t.Context(), "shop", build)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if a.Tags[k] != v {
			t.Errorf("build %d: tag %s = %q, want %q (tags %v)", build, k, a.Tags[k], v, a.Tags)
		}
	}
}
