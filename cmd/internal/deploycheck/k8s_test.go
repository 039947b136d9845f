package deploycheck_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes objects are decoded into the few fields the tests read;
// field names follow the Kubernetes API (k8s.io/api) so that a misspelt field
// shows up as a missing one.

type objectMeta struct {
	Name        string               `yaml:"name"`
	Namespace   string               `yaml:"namespace"`
	Labels      map[string]yaml.Node `yaml:"labels"`
	Annotations map[string]yaml.Node `yaml:"annotations"`
}

type header struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deployment struct {
	Spec struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	SecurityContext               *securityContext `yaml:"securityContext"`
	Containers                    []container      `yaml:"containers"`
	Volumes                       []named          `yaml:"volumes"`
	TerminationGracePeriodSeconds *int             `yaml:"terminationGracePeriodSeconds"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type named struct {
	Name string `yaml:"name"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		Prefix       string `yaml:"prefix"`
		ConfigMapRef *named `yaml:"configMapRef"`
		SecretRef    *named `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string    `yaml:"name"`
		Value     yaml.Node `yaml:"value"` // Kind 0 when absent
		ValueFrom *struct {
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]any `yaml:"requests"`
		Limits   map[string]any `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []named          `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // int or port name
	} `yaml:"httpGet"`
}

type k8sService struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MinAvailable   yaml.Node     `yaml:"minAvailable"` // Kind 0 when absent
		MaxUnavailable yaml.Node     `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sObject struct {
	header
	file string
	node *yaml.Node
}

func (o k8sObject) String() string {
	return o.file + ": " + o.Kind + "/" + o.Metadata.Name
}

func (o k8sObject) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

const (
	k8sDir         = "deploy/k8s"
	scrapeFile     = "prometheus-scrape.yml"
	namespace      = "cliente"
	exampleSuffix  = ".example.yml"
	kustomizeFile  = "kustomization.yml"
	mongoSecret    = "cliente-mongodb"
	mongoSecretKey = "uri"
)

// k8sManifests returns the YAML files in deploy/k8s that hold Kubernetes
// objects (not the Prometheus configuration).
func k8sManifests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), k8sDir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if filepath.Base(f) != scrapeFile {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no manifests in %s", k8sDir)
	}
	if yamls, _ := filepath.Glob(filepath.Join(repoRoot(t), k8sDir, "*.yaml")); len(yamls) > 0 {
		t.Errorf("%v: use the .yml extension, the tests read *.yml", yamls)
	}
	return out
}

func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	var objs []k8sObject
	for _, f := range k8sManifests(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range yamlDocs(t, f, data) {
			o := k8sObject{file: filepath.Base(f), node: doc}
			o.decode(t, &o.header)
			objs = append(objs, o)
		}
	}
	return objs
}

func find(t *testing.T, objs []k8sObject, kind, name string) k8sObject {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("%s: no %s named %q", k8sDir, kind, name)
	return k8sObject{}
}

// configMapData returns the data of a ConfigMap; every value must be a YAML
// string, or the API server rejects the object.
func configMapData(t *testing.T, o k8sObject) map[string]string {
	t.Helper()
	var cm struct {
		Data map[string]yaml.Node `yaml:"data"`
	}
	o.decode(t, &cm)
	data := map[string]string{}
	for k, v := range cm.Data {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			t.Errorf("%s: data.%s is %s, not a string: quote it", o, k, v.Tag)
		}
		data[k] = v.Value
	}
	return data
}

func TestK8sObjects(t *testing.T) {
	objs := loadK8s(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
		if o.APIVersion == "" || o.Kind == "" {
			t.Errorf("%s: apiVersion and kind are required", o)
			continue
		}
		switch o.Kind {
		case "Kustomization":
			continue
		case "Namespace":
			if o.Metadata.Namespace != "" {
				t.Errorf("%s: a Namespace has no namespace", o)
			}
		default:
			if o.Metadata.Namespace != namespace {
				t.Errorf("%s: namespace %q, want %q", o, o.Metadata.Namespace, namespace)
			}
		}
		if o.Metadata.Name == "" {
			t.Errorf("%s: metadata.name is required", o)
		}
		for _, m := range []map[string]yaml.Node{o.Metadata.Labels, o.Metadata.Annotations} {
			for k, v := range m {
				if v.Tag != "!!str" {
					t.Errorf("%s: label/annotation %s is %s, not a string: quote it", o, k, v.Tag)
				}
			}
		}
	}
	want := map[string]int{"Namespace": 1, "ConfigMap": 1, "Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "Kustomization": 1}
	for kind, n := range want {
		if kinds[kind] != n {
			t.Errorf("%s has %d %s objects, want %d", k8sDir, kinds[kind], kind, n)
		}
	}
	find(t, objs, "Namespace", namespace)
}

// kubectl apply -k deploy/k8s applies exactly the manifests.
func TestK8sKustomization(t *testing.T) {
	objs := loadK8s(t)
	var k struct {
		Resources []string `yaml:"resources"`
	}
	var kust k8sObject
	for _, o := range objs {
		if o.Kind == "Kustomization" {
			kust = o
		}
	}
	if kust.node == nil {
		t.Fatal("no Kustomization")
	}
	if kust.file != kustomizeFile {
		t.Errorf("the Kustomization is in %s; kubectl -k reads %s", kust.file, kustomizeFile)
	}
	kust.decode(t, &k)
	var want []string
	for _, o := range objs {
		if o.Kind != "Kustomization" && !slices.Contains(want, o.file) {
			want = append(want, o.file)
		}
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("%s resources = %v, want the manifest files %v", kustomizeFile, got, want)
	}
}

func TestK8sDeployments(t *testing.T) {
	objs := loadK8s(t)
	cm := configMapData(t, find(t, objs, "ConfigMap", "cliente-config"))
	configMaps := map[string]map[string]string{"cliente-config": cm}

	for _, r := range roles(t) {
		o := find(t, objs, "Deployment", "cliente-"+r.name)
		var d deployment
		o.decode(t, &d)
		spec := d.Spec

		replicas := 1 // the API's default
		if spec.Replicas != nil {
			replicas = *spec.Replicas
		}
		if replicas != 2 {
			t.Errorf("%s: replicas %d, want 2", o, replicas)
		}
		if len(spec.Selector.MatchLabels) == 0 || !subset(spec.Selector.MatchLabels, stringMap(spec.Template.Metadata.Labels)) {
			t.Errorf("%s: selector %v does not match the pod labels %v", o, spec.Selector.MatchLabels, stringMap(spec.Template.Metadata.Labels))
		}
		if len(spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: want one container, got %d", o, len(spec.Template.Spec.Containers))
		}
		c := spec.Template.Spec.Containers[0]
		where := o.String()

		// Image and command.
		if !imagePinned(c.Image) {
			t.Errorf("%s: image %q is not pinned to a tag or digest", where, c.Image)
		}
		if cmd := append(slices.Clone(c.Command), c.Args...); !slices.Equal(cmd, []string{"/usr/local/bin/" + r.name}) {
			t.Errorf("%s: runs %q, want /usr/local/bin/%s", where, cmd, r.name)
		}

		// Environment.
		env := map[string]string{}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				data, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: envFrom ConfigMap %q is not in %s", where, ef.ConfigMapRef.Name, k8sDir)
				}
				for k, v := range data {
					env[ef.Prefix+k] = v
				}
			case ef.SecretRef != nil:
				t.Errorf("%s: envFrom Secret %q hides which variables are set: use env with secretKeyRef", where, ef.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: %s is set twice", where, e.Name)
			}
			switch {
			case e.Value.Kind != 0:
				if e.Value.Tag != "!!str" {
					t.Errorf("%s: env %s value is %s, not a string: quote it", where, e.Name, e.Value.Tag)
				}
				env[e.Name] = e.Value.Value
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				ref := e.ValueFrom.SecretKeyRef
				env[e.Name] = "secret:" + ref.Name + "/" + ref.Key
				if e.Name == "MONGODB_URI" && (ref.Name != mongoSecret || ref.Key != mongoSecretKey) {
					t.Errorf("%s: MONGODB_URI from Secret %s key %s, want %s key %s", where, ref.Name, ref.Key, mongoSecret, mongoSecretKey)
				}
			case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
				ref := e.ValueFrom.ConfigMapKeyRef
				v, ok := configMaps[ref.Name][ref.Key]
				if !ok {
					t.Errorf("%s: %s from ConfigMap %s key %s, which does not exist", where, e.Name, ref.Name, ref.Key)
				}
				env[e.Name] = v
			default:
				t.Errorf("%s: env %s has neither value nor a secret or ConfigMap reference", where, e.Name)
			}
		}
		checkEnv(t, where, r, env)
		if r.name == "worker" && !strings.HasPrefix(env["MONGODB_URI"], "secret:") {
			t.Errorf("%s: MONGODB_URI must come from a Secret (it holds credentials)", where)
		}
		if r.name == "edge" && env["REPLY_TOPIC"] != "" && replicas > 1 {
			t.Errorf("%s: REPLY_TOPIC %q would be shared by %d replicas: leave it unset", where, env["REPLY_TOPIC"], replicas)
		}
		if r.name == "worker" {
			partitions, err := strconv.Atoi(env["TOPIC_PARTITIONS"])
			if err != nil {
				t.Errorf("%s: TOPIC_PARTITIONS: %v", where, err)
			} else if replicas > partitions {
				t.Errorf("%s: %d replicas but %d partitions: the extra replicas would sit idle", where, replicas, partitions)
			}
		}

		// Ports and probes.
		ports := map[string]int{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if !slices.Contains(slices.Collect(maps.Values(ports)), r.port) {
			t.Errorf("%s: no containerPort %d (ports %v)", where, r.port, ports)
		}
		for _, pr := range []struct {
			name, path string
			probe      *probe
		}{
			{"livenessProbe", "/healthz", c.LivenessProbe},
			{"readinessProbe", "/readyz", c.ReadinessProbe},
		} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s: no httpGet %s", where, pr.name)
				continue
			}
			if pr.probe.HTTPGet.Path != pr.path {
				t.Errorf("%s: %s path %q, want %s", where, pr.name, pr.probe.HTTPGet.Path, pr.path)
			}
			if got := resolvePort(pr.probe.HTTPGet.Port, ports); got != r.port {
				t.Errorf("%s: %s port %q is %d, want %d", where, pr.name, pr.probe.HTTPGet.Port.Value, got, r.port)
			}
		}

		// Prometheus annotations (read by prometheus-scrape.yml).
		ann := stringMap(spec.Template.Metadata.Annotations)
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(r.metricsPort) || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: pod annotations %v: want prometheus.io/scrape \"true\", port %d, path /metrics", where, ann, r.metricsPort)
		}
		if !slices.Contains(slices.Collect(maps.Values(ports)), r.metricsPort) {
			t.Errorf("%s: no containerPort %d for /metrics (ports %v)", where, r.metricsPort, ports)
		}

		// Resources.
		for _, res := range []string{"cpu", "memory"} {
			if c.Resources.Requests[res] == nil {
				t.Errorf("%s: no %s request", where, res)
			}
		}
		if c.Resources.Limits["memory"] == nil {
			t.Errorf("%s: no memory limit", where)
		}

		// Security.
		pod := spec.Template.Spec.SecurityContext
		csc := c.SecurityContext
		if csc == nil {
			csc = &securityContext{}
		}
		nonRoot := csc.RunAsNonRoot
		if nonRoot == nil && pod != nil {
			nonRoot = pod.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot must be true", where)
		}
		user := csc.RunAsUser
		if user == nil && pod != nil {
			user = pod.RunAsUser
		}
		if user != nil && *user == 0 {
			t.Errorf("%s: runAsUser 0", where)
		}
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", where)
		}
		if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", where)
		}
		if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities must drop ALL", where)
		}
		for _, m := range c.VolumeMounts {
			if !slices.Contains(spec.Template.Spec.Volumes, m) {
				t.Errorf("%s: volumeMount %q has no volume", where, m.Name)
			}
		}
		if g := spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			if st, err := parseSeconds(env["SHUTDOWN_TIMEOUT"]); err == nil && st >= *g {
				t.Errorf("%s: terminationGracePeriodSeconds %d leaves no time past SHUTDOWN_TIMEOUT %s", where, *g, env["SHUTDOWN_TIMEOUT"])
			}
		}
	}
}

func TestK8sPodDisruptionBudgets(t *testing.T) {
	objs := loadK8s(t)
	covered := map[string]bool{}
	for _, o := range objs {
		if o.Kind != "PodDisruptionBudget" {
			continue
		}
		var pdb podDisruptionBudget
		o.decode(t, &pdb)
		sel := pdb.Spec.Selector.MatchLabels
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", o)
			continue
		}
		var matched []string
		for _, d := range objs {
			if d.Kind != "Deployment" {
				continue
			}
			var dep deployment
			d.decode(t, &dep)
			if !subset(sel, stringMap(dep.Spec.Template.Metadata.Labels)) {
				continue
			}
			matched = append(matched, d.Metadata.Name)
			covered[d.Metadata.Name] = true
			// A budget that allows no eviction blocks node drains forever.
			if m := pdb.Spec.MinAvailable; m.Tag == "!!int" && dep.Spec.Replicas != nil {
				if n, _ := strconv.Atoi(m.Value); n >= *dep.Spec.Replicas {
					t.Errorf("%s: minAvailable %d with %d replicas allows no eviction", o, n, *dep.Spec.Replicas)
				}
			}
		}
		if len(matched) != 1 {
			t.Errorf("%s: selector %v matches Deployments %v, want exactly one", o, sel, matched)
		}
		if pdb.Spec.MinAvailable.Kind == 0 && pdb.Spec.MaxUnavailable.Kind == 0 {
			t.Errorf("%s: needs minAvailable or maxUnavailable", o)
		}
	}
	for _, name := range []string{"cliente-worker", "cliente-edge"} {
		if !covered[name] {
			t.Errorf("Deployment %s has no PodDisruptionBudget", name)
		}
	}
}

func TestK8sEdgeService(t *testing.T) {
	objs := loadK8s(t)
	o := find(t, objs, "Service", "cliente-edge")
	var svc k8sService
	o.decode(t, &svc)
	var dep deployment
	find(t, objs, "Deployment", "cliente-edge").decode(t, &dep)

	if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, stringMap(dep.Spec.Template.Metadata.Labels)) {
		t.Errorf("%s: selector %v does not select the edge pods %v", o, svc.Spec.Selector, stringMap(dep.Spec.Template.Metadata.Labels))
	}
	var worker deployment
	find(t, objs, "Deployment", "cliente-worker").decode(t, &worker)
	if subset(svc.Spec.Selector, stringMap(worker.Spec.Template.Metadata.Labels)) {
		t.Errorf("%s: selector %v also selects the worker pods", o, svc.Spec.Selector)
	}
	ports := map[string]int{}
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("%s: want one port, got %d", o, len(svc.Spec.Ports))
	}
	p := svc.Spec.Ports[0]
	if p.Port != 80 {
		t.Errorf("%s: port %d, want 80", o, p.Port)
	}
	if got := resolvePort(p.TargetPort, ports); got != 8080 {
		t.Errorf("%s: targetPort %q is %d, want the edge container's 8080 (never its metrics port)", o, p.TargetPort.Value, got)
	}
}

// The Secret example, once uncommented, is the Secret the worker reads.
func TestK8sSecretExample(t *testing.T) {
	name := "secret-mongodb" + exampleSuffix
	raw := readFile(t, k8sDir+"/"+name)
	// Lines "## ..." are prose; lines "# ..." are the commented-out manifest.
	var uncommented, live []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "##"):
		case strings.HasPrefix(line, "# "):
			uncommented = append(uncommented, line[2:])
		case line == "#" || strings.TrimSpace(line) == "":
		default:
			live = append(live, line)
		}
	}
	if len(live) > 0 {
		t.Errorf("%s must stay commented out (no credentials in the repository), has %q", name, live)
	}
	docs := yamlDocs(t, name, []byte(strings.Join(uncommented, "\n")))
	if len(docs) != 1 {
		t.Fatalf("%s: want one commented-out Secret, got %d documents", name, len(docs))
	}
	var secret struct {
		header     `yaml:",inline"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}
	if err := docs[0].Decode(&secret); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if secret.Kind != "Secret" || secret.Metadata.Name != mongoSecret || secret.Metadata.Namespace != namespace {
		t.Errorf("%s: is %s %s/%s, want Secret %s/%s", name, secret.Kind, secret.Metadata.Namespace, secret.Metadata.Name, namespace, mongoSecret)
	}
	uri := secret.StringData[mongoSecretKey]
	if uri == "" {
		uri = secret.Data[mongoSecretKey]
	}
	if !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
		t.Errorf("%s: key %s = %q, want a mongodb:// URI", name, mongoSecretKey, uri)
	}
}

func resolvePort(n yaml.Node, named map[string]int) int {
	if n.Tag == "!!int" {
		p, _ := strconv.Atoi(n.Value)
		return p
	}
	if p, ok := named[n.Value]; ok {
		return p
	}
	return -1
}

func stringMap(m map[string]yaml.Node) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.Value
	}
	return out
}

func subset(sub, super map[string]string) bool {
	for k, v := range sub {
		if w, ok := super[k]; !ok || w != v {
			return false
		}
	}
	return true
}

var digestRE = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

func imagePinned(image string) bool {
	if digestRE.MatchString(image) {
		return true
	}
	_, tag, ok := strings.Cut(lastPathElem(image), ":")
	return ok && tag != "" && tag != "latest"
}

// parseSeconds reads a Go duration such as "15s" as whole seconds.
func parseSeconds(s string) (int, error) {
	d, err := time.ParseDuration(s)
	return int(d.Seconds()), err
}
