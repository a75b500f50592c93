package deps

import (
	"context"
	"path/filepath"
)

// BinDir is where make build and make kubo put the binaries:
// DEPS_BIN_DIR, else the repository's bin/.
func (d *Deps) BinDir() string {
	if b := d.Getenv("DEPS_BIN_DIR"); b != "" {
		return b
	}
	return filepath.Join(d.Root, "bin")
}

// Built checks that kubo (ipfs) and the cluster binaries are in BinDir and
// run, and says their versions.
func (d *Deps) Built(ctx context.Context) error {
	bin := d.BinDir()
	ipfs := filepath.Join(bin, "ipfs")
	versions := []string{}
	v, err := runs(ctx, ipfs, "version")
	if err != nil {
		return missing("kubo is not built (%s): run make kubo", ipfs)
	}
	versions = append(versions, v)
	for _, name := range []string{"ipfs-cluster-service", "ipfs-cluster-ctl"} {
		b := filepath.Join(bin, name)
		v, err := runs(ctx, b, "--version")
		if err != nil {
			return missing("%s is not built: run make build", b)
		}
		versions = append(versions, v)
	}
	d.Logf("ok: %s, %s, %s in %s", versions[0], versions[1], versions[2], bin)
	return nil
}

// runs runs the executable bin with args and returns its output.
func runs(ctx context.Context, bin string, args ...string) (string, error) {
	if !executable(bin) {
		return "", missing("%s is not executable", bin)
	}
	return output(ctx, false, bin, args...)
}
