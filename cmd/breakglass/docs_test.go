package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// configDoc is the configuration reference.
var configDoc = filepath.Join("..", "..", "docs", "config.md")

func readConfigDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configKeys lists the keys of the serve config file by reflection over
// the yaml tags of serveFile, nested ones as parent.key (scim.url) and
// those of list items as parent[].key (witnesses[].url).
func configKeys(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		out = append(out, prefix+name)
		ft := f.Type
		suffix := "."
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft, suffix = ft.Elem(), "[]."
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() {
			out = append(out, configKeys(ft, prefix+name+suffix)...)
		}
	}
	return out
}

// TestDocsConfigKeys fails when a key of the config file is not in
// docs/config.md, as `key` (nested: `scim.url`, `witnesses[].url`).
func TestDocsConfigKeys(t *testing.T) {
	doc := readConfigDoc(t)
	ks := configKeys(reflect.TypeFor[serveFile](), "")
	for _, want := range []string{"name", "data", "scim.url", "witnesses[].key"} {
		if !strings.Contains(" "+strings.Join(ks, " ")+" ", " "+want+" ") {
			t.Fatalf("reflection over serveFile found %v, not %s", ks, want)
		}
	}
	for _, k := range ks {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("%s does not document the config key `%s`: add it with its type, default and what it does", configDoc, k)
		}
	}
}

// TestDocsServeFlags fails when a flag of `breakglass serve` is not in
// docs/config.md, as `--flag` or `--flag VALUE`.
func TestDocsServeFlags(t *testing.T) {
	doc := readConfigDoc(t)
	for name := range serveFlags(t) {
		if !regexp.MustCompile("`--" + regexp.QuoteMeta(name) + "[` ]").MatchString(doc) {
			t.Errorf("%s does not document the serve flag `--%s`: add it with its default and what it does", configDoc, name)
		}
	}
}

// notReadByBreakglass are environment variables read in the module's
// non-test code that the breakglass binary never reads.
var notReadByBreakglass = map[string]string{
	"CI": "internal/systest, a helper of the tests only",
}

// TestDocsEnvironment fails when the module's code reads an environment
// variable (os.Getenv, os.LookupEnv, the CLI's getenv) that
// docs/config.md does not name.
func TestDocsEnvironment(t *testing.T) {
	doc := readConfigDoc(t)
	read := regexp.MustCompile(`\b(?:Getenv|LookupEnv|getenv)\("([^"]+)"\)`)
	found := map[string]string{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range read.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BREAKGLASS_URL", "SSH_AUTH_SOCK", "GOGC"} {
		if found[want] == "" {
			t.Fatalf("the scan for environment variables found %v, not %s", sortedKeys(found), want)
		}
	}
	for name, path := range found {
		if _, skip := notReadByBreakglass[name]; skip {
			continue
		}
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s reads the environment variable %s, which %s does not document (or, if the binary never reads it, list it in notReadByBreakglass)", path, name, configDoc)
		}
	}
}
