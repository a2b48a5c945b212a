// Package handlers will hold the watermill handlers and middleware (issue
// 4): the deploy runner, the Slack notifier and the ArtifactDB recorder.
package handlers
