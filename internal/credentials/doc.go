// Package credentials gives the pipeline AWS credentials per account. Each
// environment names its AccountID and Region; Accounts turns them into SDK
// configs (cached per account and region), the variables commands run for
// that account get, and the check that the credentials really belong to
// that account (sts:GetCallerIdentity).
//
// Three modes obtain the credentials:
//
//   - chain: the daemon's own, from the standard AWS chain, for every account.
//   - assume-role: sts:AssumeRole into a role ARN built from a template such
//     as arn:aws:iam::{{.Account}}:role/ecs-deploy, cached until shortly
//     before the role's credentials expire.
//   - cloudtamer: CloudTamer (Kion) temporary credentials for the account,
//     through its v3 API with a service account's login.
//
// No secret (password, token, keys) goes into a log or an error.
package credentials
