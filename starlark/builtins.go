// This file holds the small builtins: group, host, package_name, label and
// fail. rule, glob and config have files of their own.

package starlark

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/pex-build/pex/graph"
	sl "go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// builtinGroup declares an exclusive scheduling group.
func builtinGroup(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	gr := graph.Group{Jobs: 1}
	if err := sl.UnpackArgs("group", args, kwargs, "name", &gr.Name, "jobs?", &gr.Jobs, "priority?", &gr.Priority); err != nil {
		return nil, err
	}
	switch {
	case gr.Name == "":
		return nil, fmt.Errorf("group: name is empty")
	case gr.Jobs < 1:
		return nil, fmt.Errorf("group %q: jobs must be at least 1, got %d", gr.Name, gr.Jobs)
	}
	gr.Pos = filePos(th, env.file)
	declared := env.l.wsGroups
	if env.pkg != nil {
		declared = append(declared[:len(declared):len(declared)], env.pkg.groups...)
	}
	for _, other := range declared {
		if other.Name == gr.Name {
			return nil, fmt.Errorf("group %q: already declared at %s", gr.Name, other.Pos)
		}
	}
	switch {
	case env.kind == kindWorkspace:
		env.l.wsGroups = append(env.l.wsGroups, gr)
	case env.pkg != nil:
		env.pkg.groups = append(env.pkg.groups, gr)
	default:
		return nil, env.needPackage("group")
	}
	return sl.None, nil
}

// hostStruct describes the machine pex runs on.
func hostStruct() sl.Value {
	s := starlarkstruct.FromStringDict(sl.String("host"), sl.StringDict{
		"os":   sl.String(runtime.GOOS),
		"arch": sl.String(runtime.GOARCH),
		"cpus": sl.MakeInt(runtime.NumCPU()),
	})
	s.Freeze()
	return s
}

// builtinPackageName returns the package path of the BUILD file being
// evaluated.
func builtinPackageName(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	if err := sl.UnpackArgs("package_name", args, kwargs); err != nil {
		return nil, err
	}
	if err := env.needPackage("package_name"); err != nil {
		return nil, err
	}
	return sl.String(env.pkg.path), nil
}

// builtinLabel returns the absolute form of a label, relative to the
// current package (or to the directory of a .star file at load time).
func builtinLabel(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	env, err := envOf(th)
	if err != nil {
		return nil, err
	}
	var s string
	if err := sl.UnpackArgs("label", args, kwargs, "label", &s); err != nil {
		return nil, err
	}
	l, err := graph.ParseLabel(s, env.dir)
	if err != nil {
		return nil, fmt.Errorf("label: %v", err)
	}
	return sl.String(l.String()), nil
}

// builtinFail stops the evaluation with an error whose message is its
// arguments, separated by sep (a space by default).
func builtinFail(th *sl.Thread, _ *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	sep := " "
	if err := sl.UnpackArgs("fail", nil, kwargs, "sep?", &sep); err != nil {
		return nil, err
	}
	parts := make([]string, len(args))
	for i, v := range args {
		if s, ok := sl.AsString(v); ok {
			parts[i] = s
		} else {
			parts[i] = v.String()
		}
	}
	msg := strings.Join(parts, sep)
	if msg == "" {
		msg = "fail() called"
	}
	return nil, fmt.Errorf("%s", msg)
}
