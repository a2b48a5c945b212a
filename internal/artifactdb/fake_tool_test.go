package artifactdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/pipeline"
)

// The test binary doubles as a fake artifact-db: run under that name (a
// symlink the test makes), it serves the tool's three commands from the
// JSON file FAKE_ARTIFACTDB_STATE names, through artifactdb.File.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "artifact-db" {
		os.Exit(fakeTool(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeTool parses exactly the argv the original ecs-deploy passed.
func fakeTool(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, format+"\n", a...)
		return 1
	}
	if want := os.Getenv("FAKE_ARTIFACTDB_WANT_KEY"); want != "" && os.Getenv("AWS_ACCESS_KEY_ID") != want {
		return fail("fake artifact-db: AWS_ACCESS_KEY_ID is %q, want the config account's", os.Getenv("AWS_ACCESS_KEY_ID"))
	}
	if len(args) < 3 || args[0] != "--region" || args[1] == "" {
		return fail("fake artifact-db: want --region R first, got %q", args)
	}
	f := artifactdb.File{Path: os.Getenv("FAKE_ARTIFACTDB_STATE")}
	ctx := context.Background()
	print := func(a pipeline.Artifact, err error) int {
		if err != nil {
			return 0 // the tool prints nothing when nothing matches
		}
		b, _ := json.Marshal(map[string]any{"BuildNumber": a.BuildNumber, "Value": a.Value, "Tags": a.Tags})
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	rest := args[2:]
	switch {
	case len(rest) == 6 && rest[0] == "latest" && rest[1] == "-p" && rest[3] == "-j" && rest[4] == "-t":
		var filter map[string]string
		if err := json.Unmarshal([]byte(rest[5]), &filter); err != nil || len(filter) != 1 || filter["SHA"] == "" {
			return fail("fake artifact-db: -t %q is not {\"SHA\":...}", rest[5])
		}
		return print(f.FindArtifact(ctx, rest[2], pipeline.Selector{SHA: filter["SHA"]}))
	case len(rest) == 6 && rest[0] == "get" && rest[1] == "-j" && rest[2] == "-p" && rest[4] == "-b":
		build, err := strconv.Atoi(rest[5])
		if err != nil {
			return fail("fake artifact-db: -b %q", rest[5])
		}
		return print(f.GetBuild(ctx, rest[3], build))
	case len(rest) == 10 && rest[0] == "-p" && rest[2] == "-b" && rest[4] == "tag" && rest[5] == "set" && rest[6] == "-k" && rest[8] == "-v":
		build, err := strconv.Atoi(rest[3])
		if err != nil {
			return fail("fake artifact-db: -b %q", rest[3])
		}
		if err := f.SetTag(ctx, rest[1], build, rest[7], rest[9]); err != nil {
			return fail("fake artifact-db: %v", err)
		}
		return 0
	}
	return fail("fake artifact-db: unknown command %q", args)
}

// fakeToolPath links the test binary as dir/artifact-db.
func fakeToolPath(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "artifact-db")
	if err := os.Symlink(self, p); err != nil {
		t.Fatal(err)
	}
	return p
}
