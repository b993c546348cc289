package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionJSON is `breakglass version --json`.
type versionJSON struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

// buildVersion reads the module version, and the VCS revision and time
// when the binary was built from a checkout, from the build info.
func buildVersion() versionJSON {
	v := versionJSON{Module: "github.com/failsmall/breakglass", Version: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// runVersion is `breakglass version` (and `breakglass --version`).
func runVersion(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("version")
	fs.BoolVar(&c.g.json, "json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	v := buildVersion()
	if c.g.json {
		return c.printJSON(v)
	}
	fmt.Fprintf(c.stdout, "breakglass %s\nmodule: %s\n", v.Version, v.Module)
	if v.Revision != "" {
		mod := ""
		if v.Modified {
			mod = " (with uncommitted changes)"
		}
		fmt.Fprintf(c.stdout, "revision: %s%s\n", v.Revision, mod)
	}
	if v.Time != "" {
		fmt.Fprintf(c.stdout, "time: %s\n", v.Time)
	}
	fmt.Fprintf(c.stdout, "go: %s\n", v.Go)
	return nil
}
