// A stand-in for `helm template` (helm is not packaged for Debian 12 nor on npm): renders the
// chart's templates with Go's own text/template, the engine Helm uses, and the Sprig functions
// the chart needs, implemented here with Sprig's semantics (include, required, default, quote,
// trunc, trimSuffix, replace, contains, indent, nindent, toYaml, sha256sum). A template that calls
// anything else fails to parse, so the chart cannot silently rely on a function this tool lacks.
//
// Go's standard library has no YAML parser, so values.yaml and Chart.yaml come in as JSON
// (ops/helm/render.sh converts them with python3-yaml):
//
//	go run ops/helm/render.go -chart ops/helm/bouncestream -values values.json -meta chart.json \
//	    -release bouncestream -namespace default > manifests.yaml
//
// Output as `helm template` prints it: "---\n# Source: <chart>/templates/<file>" before each
// non-empty manifest, ordered by Helm's install order of kinds, then by file name.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// Helm's InstallOrder (pkg/releaseutil/kind_sorter.go), the kinds this chart can produce first.
var installOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
	"RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
	"ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
	"IngressClass", "Ingress", "APIService",
}

func readJSON(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ---- Sprig-compatible functions ----------------------------------------------------------

func strval(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case []byte:
		return string(t)
	case error:
		return t.Error()
	case fmt.Stringer:
		return t.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

// empty as Sprig defines it (used by default).
func empty(v interface{}) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case bool:
		return !t
	case float64:
		return t == 0
	case int:
		return t == 0
	case []interface{}:
		return len(t) == 0
	case map[string]interface{}:
		return len(t) == 0
	}
	return false
}

func dflt(d interface{}, given ...interface{}) interface{} {
	if len(given) == 0 || empty(given[0]) {
		return d
	}
	return given[0]
}

func quote(str ...interface{}) string {
	out := make([]string, 0, len(str))
	for _, s := range str {
		if s != nil {
			out = append(out, fmt.Sprintf("%q", strval(s)))
		}
	}
	return strings.Join(out, " ")
}

func trunc(c int, s string) string {
	if c < 0 && len(s)+c > 0 {
		return s[len(s)+c:]
	}
	if c >= 0 && len(s) > c {
		return s[:c]
	}
	return s
}

func indent(spaces int, v string) string {
	pad := strings.Repeat(" ", spaces)
	return pad + strings.ReplaceAll(v, "\n", "\n"+pad)
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return nil, errors.New(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, errors.New(msg)
	}
	return v, nil
}

// ---- toYaml: the layout of sigs.k8s.io/yaml (sorted keys, lists not indented under a key) ----

var plainRe = regexp.MustCompile(`^[A-Za-z0-9_/.][A-Za-z0-9_/.\-]*( [A-Za-z0-9_/.\-]+)*$`)
var ambiguousRe = regexp.MustCompile(`^(?i:y|yes|n|no|true|false|on|off|null|~|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-f]+|0o?[0-7]+|[-+]?\.inf|\.nan)$`)

func scalar(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10)
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	case string:
		if plainRe.MatchString(t) && !ambiguousRe.MatchString(t) {
			return t
		}
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprintf("%v", v)
}

func yamlLines(v interface{}, pad string) []string {
	var out []string
	switch t := v.(type) {
	case map[string]interface{}:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			key := scalar(k)
			switch c := t[k].(type) {
			case map[string]interface{}:
				if len(c) == 0 {
					out = append(out, pad+key+": {}")
				} else {
					out = append(out, pad+key+":")
					out = append(out, yamlLines(c, pad+"  ")...)
				}
			case []interface{}:
				if len(c) == 0 {
					out = append(out, pad+key+": []")
				} else {
					out = append(out, pad+key+":")
					out = append(out, yamlLines(c, pad)...)
				}
			default:
				out = append(out, pad+key+": "+scalar(c))
			}
		}
	case []interface{}:
		for _, item := range t {
			switch c := item.(type) {
			case map[string]interface{}, []interface{}:
				if empty(c) {
					out = append(out, pad+"- "+map[bool]string{true: "{}", false: "[]"}[isMap(c)])
					continue
				}
				sub := yamlLines(c, pad+"  ")
				sub[0] = pad + "- " + strings.TrimPrefix(sub[0], pad+"  ")
				out = append(out, sub...)
			default:
				out = append(out, pad+"- "+scalar(c))
			}
		}
	default:
		out = append(out, pad+scalar(t))
	}
	return out
}

func isMap(v interface{}) bool { _, ok := v.(map[string]interface{}); return ok }

func toYaml(v interface{}) string { return strings.Join(yamlLines(v, ""), "\n") }

// ---- rendering ----------------------------------------------------------------------------

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	valuesPath := flag.String("values", "", "values as JSON")
	metaPath := flag.String("meta", "", "Chart.yaml as JSON")
	release := flag.String("release", "bouncestream", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	flag.Parse()
	if *chartDir == "" || *valuesPath == "" || *metaPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*chartDir, *valuesPath, *metaPath, *release, *namespace); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, valuesPath, metaPath, release, namespace string) error {
	values, err := readJSON(valuesPath)
	if err != nil {
		return err
	}
	meta, err := readJSON(metaPath)
	if err != nil {
		return err
	}
	chartName := strval(meta["name"])
	chart := map[string]interface{}{}
	for k, v := range meta { // Helm exposes Chart.yaml fields capitalised: .Chart.AppVersion
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}

	root := template.New("chart")
	funcs := template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"required":   required,
		"default":    dflt,
		"quote":      quote,
		"trunc":      trunc,
		"trimSuffix": func(a, b string) string { return strings.TrimSuffix(b, a) },
		"replace":    func(old, new, src string) string { return strings.ReplaceAll(src, old, new) },
		"contains":   func(substr, str string) bool { return strings.Contains(str, substr) },
		"indent":     indent,
		"nindent":    func(spaces int, v string) string { return "\n" + indent(spaces, v) },
		"toYaml":     toYaml,
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	}
	root.Funcs(funcs).Option("missingkey=zero")

	tdir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(tdir, e.Name()))
		if err != nil {
			return err
		}
		name := chartName + "/templates/" + e.Name()
		if _, err := root.New(name).Parse(string(b)); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)

	type doc struct{ source, kind, text string }
	var docs []doc
	kindRe := regexp.MustCompile(`(?m)^kind:\s*(\S+)`)
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{
			"Values":  values,
			"Chart":   chart,
			"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") {
			continue // NOTES.txt: rendered to prove it executes, not a manifest
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		kind := ""
		if m := kindRe.FindStringSubmatch(text); m != nil {
			kind = m[1]
		}
		docs = append(docs, doc{name, kind, strings.TrimSpace(text)})
	}
	rank := func(kind string) int {
		for i, k := range installOrder {
			if k == kind {
				return i
			}
		}
		return len(installOrder)
	}
	sort.SliceStable(docs, func(i, j int) bool { return rank(docs[i].kind) < rank(docs[j].kind) })
	for _, d := range docs {
		fmt.Printf("---\n# Source: %s\n%s\n", d.source, d.text)
	}
	return nil
}
