package deps

import (
	"context"
	"os"
)

// Package is a Debian package and what tells that it is there.
type Package struct {
	Name string
	// Command is a program the package installs (on PATH), File a file it
	// installs (under Sysroot); with neither, it is OpenJDK 17 (Java17).
	Command, File string
}

// DebianPackages are what .ci/run installed, plus shellcheck, prometheus
// (promtool) and docker-compose (it validates docker/docker-compose.yml;
// no container engine is needed).
var DebianPackages = []Package{
	{Name: "make", Command: "make"},
	{Name: "git", Command: "git"},
	{Name: "openssl", Command: "openssl"},
	{Name: "maven", Command: "mvn"},
	{Name: "procps", Command: "ps"},
	{Name: "curl", Command: "curl"},
	{Name: "jq", Command: "jq"},
	{Name: "sharness", File: "/usr/share/sharness/sharness.sh"},
	{Name: "openjdk-17-jdk-headless"},
	{Name: "shellcheck", Command: "shellcheck"},
	{Name: "prometheus", Command: "promtool"},
	{Name: "docker-compose", Command: "docker-compose"},
	{Name: "bsdutils", Command: "script"},
	{Name: "coreutils", Command: "timeout"},
}

// present tells whether p is installed.
func (d *Deps) present(ctx context.Context, p Package) bool {
	switch {
	case p.Command != "":
		_, ok := d.lookPath(p.Command)
		return ok
	case p.File != "":
		_, err := os.Stat(d.Sysroot + p.File)
		return err == nil
	default:
		return d.Java17(ctx)
	}
}

// Missing are the names of the packages that are not installed, in the
// order of Packages.
func (d *Deps) Missing(ctx context.Context) []string {
	var names []string
	for _, p := range d.Packages {
		if !d.present(ctx, p) {
			names = append(names, p.Name)
		}
	}
	return names
}
