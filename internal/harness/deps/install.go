package deps

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// aptInstall is the apt-get command line that installs packages.
const aptInstall = "apt-get install -y --no-install-recommends "

// Install installs the missing packages with apt-get. Not as root, it
// prints the one sudo line that does (to Stdout) and fails with
// ErrNeedsRoot; without apt-get it fails with ErrMissing.
func (d *Deps) Install(ctx context.Context) error {
	need := d.Missing(ctx)
	if len(need) == 0 {
		return nil
	}
	list := strings.Join(need, " ")
	apt, ok := d.lookPath("apt-get")
	if !ok {
		return missing("missing: %s; this is not a Debian-like system (no apt-get): install their equivalents", list)
	}
	if d.UID != 0 {
		d.Logf("missing Debian packages: %s. Install them with:", list)
		fmt.Fprintf(d.Stdout, "sudo %s%s\n", aptInstall, list)
		return &checkError{"not root: run the line above", ErrNeedsRoot}
	}
	d.Logf("installing %s", list)
	if err := d.apt(ctx, apt, "update", "-q"); err != nil {
		return err
	}
	if err := d.apt(ctx, apt, append([]string{"install", "-y", "-q", "--no-install-recommends"}, need...)...); err != nil {
		return err
	}
	if still := d.Missing(ctx); len(still) > 0 {
		return missing("still missing after apt-get install: %s", strings.Join(still, " "))
	}
	return nil
}

// apt runs apt-get non-interactively (within aptTimeout), its output to
// Stdout and Stderr.
func (d *Deps) apt(ctx context.Context, apt string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, aptTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, apt, args...)
	c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	c.Stdout, c.Stderr = d.Stdout, d.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("apt-get %s: %w", args[0], err)
	}
	return nil
}

// CheckPackages fails with ErrMissing, naming the packages and the line
// that installs them, when some are not installed.
func (d *Deps) CheckPackages(ctx context.Context) error {
	if need := d.Missing(ctx); len(need) > 0 {
		list := strings.Join(need, " ")
		return missing("missing Debian packages: %s (make deps installs them; or: sudo %s%s)", list, aptInstall, list)
	}
	return nil
}
