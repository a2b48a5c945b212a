package slack_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/slack"
	"ecs-deploy/internal/testbed"
)

// TestThreadStores: a notifier restarted on the same store goes on in the
// deploy's thread instead of starting a new message.
func TestThreadStores(t *testing.T) {
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(testbed.Dynalite(t))})
	dyn := slack.DynamoThreads{DB: db, Table: "SlackThreads"}
	if err := dyn.CreateTable(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]slack.ThreadStore{"memory": &slack.MemoryThreads{}, "dynamodb": dyn} {
		t.Run(name, func(t *testing.T) {
			fs := newFakeSlack(t)
			var logs bytes.Buffer
			ctx := logged(t, &logs)
			newNotifier := func() *slack.Notifier {
				n, err := slack.New(slack.Config{Token: token, APIURL: fs.URL + "/api/", Threads: store,
					Routes: slack.Routes{Default: &slack.Route{Channel: "#deploys"}}, Sleep: (&sleeps{}).Sleep})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			evs := failedDeploy()
			for i := range evs {
				evs[i].DeployID = "d-" + name
			}
			if err := newNotifier().Notify(ctx, evs[0]); err != nil {
				t.Fatal(err)
			}
			restarted := newNotifier()
			for _, e := range evs[1:] {
				if err := restarted.Notify(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			calls := fs.Calls()
			if len(calls) != 4 || calls[3].Path != "/api/chat.update" || calls[3].Form.Get("ts") != calls[1].Form.Get("thread_ts") {
				t.Fatalf("calls %+v; want one message, two replies and its update", calls)
			}
			wantBlocks(t, "update", calls[3].Form.Get("blocks"), "*Duration*\\n1m36s")
			th, ok, err := store.Get(t.Context(), "d-"+name)
			if err != nil || !ok || th.TS != "1700000000.000001" || th.FailedStep != 7 || !th.StartedAt.Equal(evs[0].Time) || th.UpdatedAt.IsZero() {
				t.Fatalf("thread %+v, %v, %v", th, ok, err)
			}
		})
	}
}
