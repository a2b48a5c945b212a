// Package pipeline will hold the locked, resumable blue/green pipeline
// (issue 3): DeployConfig, templates, the twelve steps, the DynamoDB lock,
// and resume, start-over and rollback.
package pipeline
