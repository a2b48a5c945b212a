package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/testbed"
	"ecs-deploy/pipeline"
)

// TestArtifactRegister registers builds with `enqueue artifact register`
// in a DynamoDB table on dynalite, named by the daemon's variable, and in a
// file, and checks what each store then finds by the SHA tag, and the exit
// codes of bad uses.
func TestArtifactRegister(t *testing.T) {
	endpoint := testbed.Dynalite(t)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_DYNAMODB": endpoint} {
		t.Setenv(k, v)
	}
	ctx := t.Context()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	table := artifactdb.Dynamo{DB: db, Table: "Artifacts"}
	if err := table.CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "artifacts.json")
	register := "artifact register -project shop -build 12 -image repo/shop:12 -tag SHA=abc1234 -tag branch=main"
	cases := []struct {
		name string
		args string
		env  map[string]string
		code int
		want string // in the output or error
	}{
		{"table from the daemon's variable", register, map[string]string{"ECS_DEPLOY_ARTIFACTS_TABLE": "Artifacts"}, exitOK, "registered build 12 of shop: repo/shop:12"},
		{"again: the same build is kept", register, map[string]string{"ECS_DEPLOY_ARTIFACTS_TABLE": "Artifacts"}, exitOK, "registered build 12"},
		{"another image under the same number", strings.Replace(register, "repo/shop:12", "repo/shop:13", 1), map[string]string{"ECS_DEPLOY_ARTIFACTS_TABLE": "Artifacts"}, exitFailed, "already registered"},
		{"file by flag", register + " -artifacts " + file, nil, exitOK, "registered build 12"},
		{"no store", register, nil, exitUsage, "name the ArtifactDB store"},
		{"two stores", register + " -artifacts " + file + " -artifacts-table Artifacts", nil, exitUsage, "exclude each other"},
		{"no SHA", "artifact register -project shop -build 12 -image repo/shop:12 -artifacts-table Artifacts", nil, exitUsage, "-tag SHA=<commit> is required"},
		{"no subcommand", "artifact list", nil, exitUsage, "usage: enqueue artifact register"},
		{"help", "artifact register -h", nil, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := runArtifact(ctx, strings.Fields(c.args)[1:], env(c.env), &out, io.Discard)
			got := out.String()
			if err != nil {
				got += err.Error()
			}
			if code != c.code || !strings.Contains(got, c.want) {
				t.Fatalf("exit %d, want %d; output %q, want %q", code, c.code, got, c.want)
			}
		})
	}
	for name, store := range map[string]pipeline.ArtifactDB{"table": table, "file": artifactdb.File{Path: file}} {
		a, err := store.FindArtifact(ctx, "shop", pipeline.Selector{SHA: "abc1234"})
		if err != nil || a.BuildNumber != 12 || a.Value != "repo/shop:12" || a.Tags["branch"] != "main" {
			t.Errorf("%s store finds %+v, %v", name, a, err)
		}
	}
}
