//go:build integration

package scylla_test

import (
	"os"
	"testing"

	"github.com/ipfs-cluster-scylla/ipfs-cluster-scylla/internal/cqlaudit"
)

// TestMain runs the integration suite with every statement the product
// sends recorded (the stores under the consensus, and those of the
// tests), then fails the run when one breaks the rules of docs/cql.md: a
// conditional write, ALLOW FILTERING, a range read other than the
// token-range lister and the upgrade copy, or a statement the page does
// not list (see internal/cqlaudit).
func TestMain(m *testing.M) { os.Exit(cqlaudit.Main(m, nil)) }
