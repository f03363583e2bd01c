package runner

// terminalSignalsReachChild is always true on Windows: the console sends
// Ctrl-C to every process attached to it, the child included.
func terminalSignalsReachChild() bool { return true }
