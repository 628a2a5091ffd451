"""The console: the vault's own web pages for trainers, reviewers, agents and the people who
govern recordings (docs/console.md). Served on the API's origin with the same sign-in; every
page calls the same domain functions as the API, so both obey one permission check."""
