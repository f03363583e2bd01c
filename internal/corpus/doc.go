// Package corpus reads what the tests find in ../shared beside the
// repository: the real compose projects of shared/corpus with the human
// judgment of every variable in its expected.tsv, and the real Key Vault
// service's recordings in shared/keyvault-recordings.
//
// A fresh clone has no ../shared, so everything here is built only with the
// corpus build tag (`make test-corpus`, or `go test -tags corpus`): a test
// file that reads ../shared must carry `//go:build corpus`, or it does not
// compile. Under the tag a missing ../shared fails the test, never skips it.
package corpus
