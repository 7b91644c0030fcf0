// Command crosscheck type-checks every package of the module, its test files
// included, for other targets (GOOS/GOARCH), the way go vet does before it
// runs its analyzers. It type-checks the standard library and the
// dependencies from source instead of compiling them for each target, so a
// cold check of a target takes seconds where a cold go vet or go build takes
// minutes.
//
//	go run ./scripts/crosscheck darwin/arm64 freebsd/amd64 linux/386
//
// It prints every type error as "target: position: message" and exits 1 if
// there was one. It checks types only: go vet's analyzers run on the host
// target in .ci/run.
package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crosscheck GOOS/GOARCH...")
		os.Exit(2)
	}
	if os.Args[1] == "-child" {
		// One target, given by GOOS and GOARCH in the environment: go/build
		// then sets up build.Default (tool tags included) for it, and
		// resolves module imports with go list.
		target := build.Default.GOOS + "/" + build.Default.GOARCH
		n, errs := check()
		for _, err := range errs {
			fmt.Printf("%s: %v\n", target, err)
		}
		fmt.Printf("%s: %d packages, %d errors\n", target, n, len(errs))
		if len(errs) > 0 {
			os.Exit(1)
		}
		return
	}
	failed := false
	for _, target := range os.Args[1:] {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok || goos == "" || goarch == "" {
			fmt.Fprintf(os.Stderr, "crosscheck: %q is not GOOS/GOARCH\n", target)
			os.Exit(2)
		}
		cmd := exec.Command(os.Args[0], "-child")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if _, exit := errors.AsType[*exec.ExitError](err); !exit {
				fmt.Fprintf(os.Stderr, "crosscheck: %v\n", err)
			}
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// check type-checks the module's packages for the target of build.Default;
// it returns how many packages it checked and the errors.
func check() (int, []error) {
	goarch := build.Default.GOARCH
	fset := token.NewFileSet()
	src := importer.ForCompiler(fset, "source", nil).(types.ImporterFrom)
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return 0, []error{fmt.Errorf("unknown GOARCH %q", goarch)}
	}

	cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{.Dir}}", "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, []error{fmt.Errorf("go list: %v", err)}
	}
	var errs []error
	n := 0
	for line := range strings.Lines(string(out)) {
		path, dir, _ := strings.Cut(strings.TrimSpace(line), " ")
		bp, err := build.Default.ImportDir(dir, 0)
		if _, none := errors.AsType[*build.NoGoError](err); none {
			continue // nothing to build for this target
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", path, err))
			continue
		}
		// The package with its in-package test files, then the external
		// test package, which imports that same augmented package.
		conf := types.Config{Sizes: sizes, Error: func(err error) { errs = append(errs, err) }}
		files := parse(fset, dir, append(bp.GoFiles, bp.TestGoFiles...), &errs)
		if len(files) == 0 {
			continue
		}
		conf.Importer = src
		pkg, _ := conf.Check(path, fset, files, nil)
		n++
		if len(bp.XTestGoFiles) > 0 {
			conf.Importer = withPackage{src, pkg}
			conf.Check(path+"_test", fset, parse(fset, dir, bp.XTestGoFiles, &errs), nil)
			n++
		}
	}
	return n, errs
}

func parse(fset *token.FileSet, dir string, names []string, errs *[]error) []*ast.File {
	var files []*ast.File
	for _, name := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		files = append(files, f)
	}
	return files
}

// withPackage resolves one import path to a package already checked (the
// package under test, with its test files) and every other one with src.
type withPackage struct {
	src types.ImporterFrom
	pkg *types.Package
}

func (w withPackage) Import(path string) (*types.Package, error) {
	return w.ImportFrom(path, "", 0)
}

func (w withPackage) ImportFrom(path, dir string, mode types.ImportMode) (*types.Package, error) {
	if w.pkg != nil && path == w.pkg.Path() {
		return w.pkg, nil
	}
	return w.src.ImportFrom(path, dir, mode)
}
