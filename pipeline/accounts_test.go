package pipeline_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/credentials"
	"ecs-deploy/pipeline"
)

const envAccount = "444455556666"

// TestDeployToSecondAccount: the app's environment is in another account
// than the daemon's credentials. The pipeline assumes that account's role,
// checks the identity, deploys there, and its commands run with the role's
// credentials, never the daemon's.
func TestDeployToSecondAccount(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	b := newBed(t, sharedDynalite(t), bedOptions{account: envAccount, configJSON: func(sd awsim.Seeded) string {
		return withApp(defaultConfig(sd), sd.Name, map[string]any{"PostDeployCommandTemplates": []any{map[string]any{
			"Program": "sh", "Arguments": []any{"-c", "echo $AWS_ACCESS_KEY_ID > " + keyFile}}}})
	}})
	roles, err := credentials.New(credentials.Config{Mode: credentials.ModeAssumeRole, Base: sdkConfig(b.url)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pipeline(pipeOptions{clients: roles.ClientsFunc(true)}).Run(testContext(t), b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if k := strings.TrimSpace(string(key)); !strings.HasPrefix(k, "ASIA") {
		t.Fatalf("the post-deploy command had access key %q, want the assumed role's", k)
	}
}

// TestWrongAccountRefused: credentials of another account than the
// environment's are refused before anything changes, naming both.
func TestWrongAccountRefused(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{account: envAccount})
	own, err := credentials.New(credentials.Config{Mode: credentials.ModeChain, Base: sdkConfig(b.url)})
	if err != nil {
		t.Fatal(err)
	}
	b.sim.ResetCalls()
	_, err = b.pipeline(pipeOptions{clients: own.ClientsFunc(true)}).Run(testContext(t), b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrWrongAccount) || !pipeline.Permanent(err) ||
		!strings.Contains(err.Error(), "the environment is in account "+envAccount+", but the credentials are of account 123456789012") {
		t.Fatalf("err = %v", err)
	}
	if got := b.mutatingCalls(); len(got) != 0 {
		t.Fatalf("the refused deploy changed %v", got)
	}
	if st := b.status(); st.DeployID != "" {
		t.Fatalf("the refused deploy wrote a status: %+v", st)
	}
	b.servedBySeed()
}
