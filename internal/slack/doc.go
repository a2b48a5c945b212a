// Package slack tells people in Slack about deploys. It turns deploy events
// (package events) into Block Kit messages, built with slack-go's types:
//
//   - With an incoming webhook it posts the start and the end of each deploy.
//   - With a bot token it posts one message per deploy (chat.postMessage),
//     the steps as replies in its thread, and updates the first message with
//     the outcome (chat.update). The message's channel and ts are kept per
//     deploy in a ThreadStore: MemoryThreads, or DynamoThreads to survive
//     restarts.
//
// A routing file says which apps and environments go to which channel.
// Calls honour 429 with Retry-After, retry 5xx and connection errors with
// backoff, and give up after a bounded number of attempts. The webhook URL
// and the token never reach a log or an error: errors from the HTTP client
// are rebuilt without the URL Go's url.Error carries.
package slack
