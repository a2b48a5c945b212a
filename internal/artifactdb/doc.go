// Package artifactdb holds the ArtifactDB stores: where the pipeline finds
// the artifact a request names, and where deploy results are recorded so
// the RequiresPreviousEnvDeploy gate can read them.
//
// Three stores satisfy Store and pass the same conformance suite:
//
//   - CLI runs the artifact-db tool the original ecs-deploy used.
//   - Dynamo keeps artifacts in a DynamoDB table, for teams without the tool.
//   - File keeps them in a JSON file, for local use and tests.
//
// A result is two tags on the build: deploy-<env>-<config SHA, 8 characters>
// set to success or failure (the tag the original wrote and the gate reads),
// and the same name with "-ended" holding when the deploy ended. The later
// end wins, so a late failure never overwrites a later success.
package artifactdb
