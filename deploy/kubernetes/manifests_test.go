package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifests are the decoded objects of every *.yaml here.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
}

// load decodes every document strictly: an unknown or duplicated field, an
// unknown kind or a wrong type is an error, as the API server's strict
// field validation would make it.
func load(t *testing.T) *manifests {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := &manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i+1, err)
			}
			if !m.add(obj) {
				t.Fatalf("%s, document %d: %T is not a kind this test checks", f, i+1, obj)
			}
		}
	}
	return m
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func (m *manifests) add(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m.deployments[o.Name] = o
	case *corev1.Service:
		m.services[o.Name] = o
	case *corev1.ConfigMap:
		m.configMaps[o.Name] = o
	case *corev1.Secret:
		m.secrets[o.Name] = o
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, o)
	case *networkingv1.NetworkPolicy:
		m.policies = append(m.policies, o)
	default:
		return false
	}
	return true
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	for _, name := range []string{"central", "mosquitto"} {
		if m.deployments[name] == nil {
			t.Errorf("no Deployment %q", name)
		}
	}
	// The strict decoder is what catches a typo: prove it does.
	bad := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n")
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	if _, _, err := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer().Decode(bad, nil, nil); err == nil {
		t.Fatal("an unknown field decoded without error")
	}
}

// centralFlags are the flags and environment variables of homeplane-central
// serve, read from the program's own help: a renamed flag fails here.
type centralFlags struct {
	bin   string
	flags map[string]bool
	env   map[string]bool
}

var (
	flagLine = regexp.MustCompile(`^  -([a-z0-9-]+)`)
	envNote  = regexp.MustCompile(`\(env (HOMEPLANE_[A-Z0-9_]+)(?: or (HOMEPLANE_[A-Z0-9_]+))?\)`)
)

func buildCentral(t *testing.T) centralFlags {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "homeplane-central")
	build := exec.Command("go", "build", "-o", bin, "github.com/homeplane/homeplane/central/cmd/homeplane-central")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build homeplane-central: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "help", "serve").Output()
	if err != nil {
		t.Fatalf("homeplane-central help serve: %v", err)
	}
	f := centralFlags{bin: bin, flags: map[string]bool{}, env: map[string]bool{}}
	for _, l := range strings.Split(string(out), "\n") {
		if g := flagLine.FindStringSubmatch(l); g != nil {
			f.flags[g[1]] = true
		}
		for _, g := range envNote.FindAllStringSubmatch(l, -1) {
			for _, e := range g[1:] {
				if e != "" {
					f.env[e] = true
				}
			}
		}
	}
	for _, must := range []string{"http-addr", "mqtt-mode", "replica-id", "database-url"} {
		if !f.flags[must] {
			t.Fatalf("help serve lists no -%s; the parser is out of date:\n%s", must, out)
		}
	}
	return f
}

// longestPodName is the longest name a pod of d can get: the Deployment's
// name, the ReplicaSet's template hash (at most 10) and a 5-character suffix.
func longestPodName(d *appsv1.Deployment) string {
	return d.Name + "-" + "5d4f8b7c9b" + "-" + "x2x7k"
}

// containerEnv resolves a container's environment as the kubelet would,
// secrets excepted: they are written under root, where the *_FILE paths are
// rewritten to point.
func (m *manifests) containerEnv(t *testing.T, pod corev1.PodSpec, c corev1.Container, podName, root string) []string {
	t.Helper()
	mounts := map[string]string{} // mount path → file or directory under root
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == vm.Name {
				vol = &pod.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("%s: volume mount %q has no volume", c.Name, vm.Name)
		}
		if vol.Secret == nil {
			continue
		}
		s := m.secrets[vol.Secret.SecretName]
		if s == nil {
			t.Fatalf("%s: secret %q is not in the manifests", c.Name, vol.Secret.SecretName)
		}
		dir := filepath.Join(root, vm.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, v := range s.StringData {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if vm.SubPath != "" {
			mounts[vm.MountPath] = filepath.Join(dir, vm.SubPath)
		} else {
			mounts[vm.MountPath] = dir
		}
	}
	var env []string
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", c.Name)
		}
		cm := m.configMaps[ef.ConfigMapRef.Name]
		if cm == nil {
			t.Fatalf("%s: ConfigMap %q is not in the manifests", c.Name, ef.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env = append(env, k+"="+v)
		}
	}
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			v = podName
		default:
			t.Fatalf("%s: %s: only values and the pod's name are resolved here", c.Name, e.Name)
		}
		if strings.HasSuffix(e.Name, "_FILE") {
			found := false
			for mp, local := range mounts {
				if rel, ok := strings.CutPrefix(v, mp); ok {
					v, found = local+rel, true
				}
			}
			if !found {
				t.Errorf("%s: %s=%s is not on a mounted secret", c.Name, e.Name, e.Value)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

// TestCentralDeploymentMatchesCentral checks the central Deployment against
// the program: every variable and flag exists, central accepts the
// configuration the pod would get, and the ports, probes and Services
// follow the addresses central reports.
func TestCentralDeploymentMatchesCentral(t *testing.T) {
	m := load(t)
	cf := buildCentral(t)
	d := m.deployments["central"]
	if d == nil {
		t.Fatal("no central Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("central replicas = %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("central pod has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	var names []string
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && m.configMaps[ef.ConfigMapRef.Name] != nil {
			for k := range m.configMaps[ef.ConfigMapRef.Name].Data {
				names = append(names, k)
			}
		}
	}
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	for _, n := range names {
		if !cf.env[n] {
			t.Errorf("central does not read %s (help serve lists no such variable)", n)
		}
	}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if name, ok := strings.CutPrefix(a, "-"); ok {
			name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
			if !cf.flags[name] {
				t.Errorf("central has no flag %s", a)
			}
		}
	}

	// The replica id comes from the pod's name.
	var fromName bool
	for _, e := range c.Env {
		if e.Name == "HOMEPLANE_REPLICA_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			fromName = true
		}
	}
	if !fromName {
		t.Error("HOMEPLANE_REPLICA_ID is not the pod's name (downward API)")
	}
	for _, e := range c.Env {
		if secret := strings.TrimSuffix(e.Name, "_FILE"); secret != e.Name && e.ValueFrom == nil && !cf.env[secret] {
			t.Errorf("%s names a file for %s, which central does not read", e.Name, secret)
		}
	}
	for _, n := range names {
		for _, s := range []string{"DATABASE_URL", "MQTT_PASSWORD", "MQTT_AUTH_TOKEN"} {
			if n == "HOMEPLANE_"+s {
				t.Errorf("%s is set as a plain variable; secrets go through %s_FILE", n, n)
			}
		}
	}

	// Central checks the configuration the pod would get.
	podName := longestPodName(d)
	cmd := exec.Command(cf.bin, append([]string{"config"}, c.Args...)...)
	cmd.Env = append(m.containerEnv(t, pod, c, podName, t.TempDir()), "PATH="+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("central rejects the pod's configuration (pod %s): %v\n%s", podName, err, out)
	}
	eff := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			eff[k] = v
		}
	}
	for k, want := range map[string]string{"mqtt_mode": "external", "replica_id": podName, "mqtt_password_set": "true", "mqtt_auth_token_set": "true"} {
		if eff[k] != want {
			t.Errorf("effective %s = %q, want %q", k, eff[k], want)
		}
	}

	// Ports: each address central listens on is a named container port.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, key := range map[string]string{"http": "http_addr", "mqtt-auth": "mqtt_auth_addr", "metrics": "metrics_addr"} {
		_, port, err := net.SplitHostPort(eff[key])
		if err != nil {
			t.Errorf("effective %s = %q: %v", key, eff[key], err)
			continue
		}
		if strconv.Itoa(int(ports[name])) != port {
			t.Errorf("container port %q = %d, central listens on %s (%s)", name, ports[name], eff[key], key)
		}
		if host, _, _ := net.SplitHostPort(eff[key]); host != "0.0.0.0" && host != "" {
			t.Errorf("%s = %s: unreachable from outside the pod", key, eff[key])
		}
	}

	// Probes: liveness /healthz, readiness /readyz, on the API's port.
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of %s", what, path)
			return
		}
		if p.HTTPGet.Path != path || portOf(p.HTTPGet.Port, c) != ports["http"] {
			t.Errorf("%s probe: GET %s on %s, want %s on the http port %d", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, ports["http"])
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, "/healthz")
	}

	// Services: the API and the broker contract reach central's ports.
	for svc, port := range map[string]string{"central": "http", "homeplane-mqtt-auth": "mqtt-auth"} {
		s := m.services[svc]
		if s == nil {
			t.Errorf("no Service %q", svc)
			continue
		}
		if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s does not select central's pods", svc)
		}
		if len(s.Spec.Ports) != 1 || portOf(s.Spec.Ports[0].TargetPort, c) != ports[port] {
			t.Errorf("Service %s does not target central's %s port", svc, port)
		}
	}

	// The broker central connects to is the mosquitto Service.
	u, err := url.Parse(eff["mqtt_broker_url"])
	if err != nil {
		t.Fatalf("mqtt_broker_url %q: %v", eff["mqtt_broker_url"], err)
	}
	if ms := m.services[u.Hostname()]; ms == nil || len(ms.Spec.Ports) == 0 || strconv.Itoa(int(ms.Spec.Ports[0].Port)) != u.Port() {
		t.Errorf("mqtt-broker-url %s is not a Service port in the manifests", u)
	}
}

func portOf(p intstr.IntOrString, c corev1.Container) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func selects(selector, podLabels map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(podLabels))
}

// TestPodsHardened: every container runs as non-root on a read-only root
// file system without privilege escalation, with resource requests, and the
// pods get no API token.
func TestPodsHardened(t *testing.T) {
	m := load(t)
	for name, d := range m.deployments {
		pod := d.Spec.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token", name)
		}
		psc := pod.SecurityContext
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			nonRoot := (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
			if !nonRoot {
				t.Errorf("%s/%s: runAsNonRoot is not set", name, c.Name)
			}
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: root file system is writable", name, c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s/%s: privilege escalation allowed", name, c.Name)
			}
			if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s/%s: capabilities not dropped", name, c.Name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: needs cpu and memory requests and a memory limit", name, c.Name)
			}
		}
	}
}

// TestDisruptionBudget: voluntary evictions keep at least one of central's
// replicas, and never block a drain entirely.
func TestDisruptionBudget(t *testing.T) {
	m := load(t)
	d := m.deployments["central"]
	var found bool
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil || !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			continue
		}
		found = true
		if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() < 1 || int32(p.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
			t.Errorf("PodDisruptionBudget %s: minAvailable %v, want 1 to %d", p.Name, p.Spec.MinAvailable, *d.Spec.Replicas-1)
		}
	}
	if !found {
		t.Error("no PodDisruptionBudget selects central's pods")
	}
}

// TestContractOnlyFromTheBroker: the NetworkPolicy lets only the broker's
// pods reach the contract port.
func TestContractOnlyFromTheBroker(t *testing.T) {
	m := load(t)
	central, broker := m.deployments["central"].Spec.Template.Labels, m.deployments["mosquitto"].Spec.Template.Labels
	var found bool
	for _, p := range m.policies {
		if !selects(p.Spec.PodSelector.MatchLabels, central) {
			continue
		}
		for _, r := range p.Spec.Ingress {
			for _, port := range r.Ports {
				if port.Port == nil || port.Port.String() != "mqtt-auth" {
					continue
				}
				found = true
				if len(r.From) == 0 {
					t.Errorf("NetworkPolicy %s opens the contract to everyone", p.Name)
				}
				for _, f := range r.From {
					if f.PodSelector == nil || !selects(f.PodSelector.MatchLabels, broker) || len(f.PodSelector.MatchLabels) < 2 {
						t.Errorf("NetworkPolicy %s opens the contract beyond the broker: %+v", p.Name, f)
					}
				}
			}
		}
	}
	if !found {
		t.Error("no NetworkPolicy rule for the contract port")
	}
}

// TestMosquittoConfiguration: the broker's configuration is the repository's
// deploy/mosquitto/mosquitto.conf, whose contract address is the
// homeplane-mqtt-auth Service; its token file is mounted from the secret
// central reads its token from.
func TestMosquittoConfiguration(t *testing.T) {
	m := load(t)
	cm := m.configMaps["mosquitto"]
	if cm == nil {
		t.Fatal("no mosquitto ConfigMap")
	}
	got := directives(cm.Data["mosquitto.conf"])
	repo, err := os.ReadFile("../mosquitto/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := directives(string(repo))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mosquitto.conf %s = %q, deploy/mosquitto has %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("mosquitto.conf sets %s, which deploy/mosquitto/mosquitto.conf does not", k)
		}
	}

	u, err := url.Parse(got["plugin_opt_url"])
	if err != nil {
		t.Fatal(err)
	}
	auth := m.services["homeplane-mqtt-auth"]
	if auth == nil || u.Hostname() != auth.Name || u.Port() != strconv.Itoa(int(auth.Spec.Ports[0].Port)) || u.Path != "/mqtt/v1/authn" {
		t.Errorf("plugin_opt_url %s is not the homeplane-mqtt-auth Service's contract", u)
	}

	d := m.deployments["mosquitto"]
	c := d.Spec.Template.Spec.Containers[0]
	confPath := ""
	for i, a := range c.Args {
		if a == "-c" && i+1 < len(c.Args) {
			confPath = c.Args[i+1]
		}
	}
	var confMounted, tokenMounted bool
	for _, vm := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.ConfigMap != nil && v.ConfigMap.Name == cm.Name && confPath == vm.MountPath+"/mosquitto.conf" {
				confMounted = true
			}
			if v.Secret != nil && vm.MountPath == got["plugin_opt_token_file"] && vm.SubPath == "mqtt_auth_token" {
				tokenMounted = m.secrets[v.Secret.SecretName] != nil && m.secrets[v.Secret.SecretName].StringData["mqtt_auth_token"] != ""
			}
		}
	}
	if !confMounted {
		t.Errorf("mosquitto is not started (-c %q) with the ConfigMap's mosquitto.conf", confPath)
	}
	if !tokenMounted {
		t.Errorf("plugin_opt_token_file %s is not the secret's mqtt_auth_token", got["plugin_opt_token_file"])
	}
	listens := false
	for _, p := range c.Ports {
		listens = listens || fmt.Sprint(p.ContainerPort) == strings.Fields(got["listener"])[0]
	}
	if !listens {
		t.Errorf("mosquitto listens on %s, which is no container port", got["listener"])
	}
	if !selects(m.services["mosquitto"].Spec.Selector, d.Spec.Template.Labels) {
		t.Error("the mosquitto Service does not select the broker")
	}
}

// directives maps mosquitto.conf's directives to their values; log_type,
// which repeats, collects its values.
func directives(conf string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(conf, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		if prev, ok := out[k]; ok {
			v = prev + "," + v
		}
		out[k] = v
	}
	return out
}
