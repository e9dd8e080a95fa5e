package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
	_ "github.com/hookgate/hookgate/plugins" // the providers the config names
)

const chartDir = "../hookgate"

// secretsSet are secret values no other part of a rendering holds, so that
// one found outside the Secret is a leak.
var secretsSet = map[string]string{
	"HOOKGATE_ADMIN_TOKEN":    "admin-token-0123456789abcdef",
	"IIMMPACT_WEBHOOK_SECRET": "iimmpact-secret-sentinel",
	"CATALOG360_WEBHOOK_KEY":  "catalog360-key-sentinel",
	"CATALOG_SYNC_SECRET":     "whsec_cHJvZC1zaWduaW5nLWtleS0zMmJ5dGVzLWxvbmc=",
	"HOOKGATE_REDIS_URL":      "redis://:redis-password-sentinel@redis:6379/0",
}

// withSecrets is --set for every secretsSet value.
func withSecrets(sets ...string) []string {
	for k, v := range secretsSet {
		sets = append(sets, "secrets.env."+k+"="+strings.ReplaceAll(v, ",", `\,`))
	}
	return sets
}

// rendering is one render of the chart, decoded.
type rendering struct {
	text string // every manifest, as helm template prints them
	objs []object
}

func renderWith(t *testing.T, sets ...string) rendering {
	t.Helper()
	vals, err := userValues(nil, sets)
	if err != nil {
		t.Fatal(err)
	}
	out, err := render(chartDir, vals)
	if err != nil {
		t.Fatalf("render %v: %v", sets, err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("render %v: %v", sets, err)
	}
	var all strings.Builder
	for _, name := range sortedManifests(out) {
		all.WriteString(out[name])
	}
	return rendering{text: all.String(), objs: objs}
}

// kinds is the sorted kind/name list of r.
func (r rendering) kinds() []string {
	var out []string
	for _, o := range r.objs {
		out = append(out, o.kind+"/"+o.name)
	}
	slices.Sort(out)
	return out
}

// one returns the only object of type T, failing the test otherwise.
func one[T any](t *testing.T, r rendering) *T {
	t.Helper()
	all := each[T](r)
	if len(all) != 1 {
		t.Fatalf("%d objects of type %T, want 1; have %v", len(all), new(T), r.kinds())
	}
	return all[0]
}

func each[T any](r rendering) []*T {
	var out []*T
	for _, o := range r.objs {
		if v, ok := o.value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestLint: helm lint (Helm's own linter) finds nothing to warn about,
// with the defaults and with the Redis values.
func TestLint(t *testing.T) {
	for _, sets := range [][]string{nil, withSecrets("store.kind=redis", "replicaCount=3",
		"monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true")} {
		vals, err := userValues(nil, sets)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := lintChart(chartDir, vals)
		if err != nil {
			t.Errorf("lint %v: %v", sets, err)
		}
		for _, m := range msgs {
			t.Logf("lint %v: %s", sets, m.Error())
		}
	}
}

// gatewayConfig parses the ConfigMap's config.yaml as the gateway does,
// with the Secret's variables as its environment.
func gatewayConfig(t *testing.T, r rendering, env map[string]string) *gateway.Config {
	t.Helper()
	cm := one[corev1.ConfigMap](t, r)
	data, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no config.yaml; keys %v", cm.Name, cm.Data)
	}
	cfg, err := config.Parse("/etc/hookgate/config.yaml", []byte(data), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the gateway refuses the ConfigMap's config.yaml:\n%v\n%s", err, data)
	}
	return cfg
}

// port is the container port named name.
func port(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, name)
	return 0
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, ok := strings.Cut(addr, ":")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("listen address %q has no port", addr)
	}
	return int32(n)
}

// checkPod is what every rendering's pod must be: probes on the public
// listener's port, the shutdown sequence within the termination grace,
// the config from the ConfigMap's directory, the secrets from the Secret,
// and a locked-down security context.
func checkPod(t *testing.T, r rendering, pod corev1.PodTemplateSpec, cfg *gateway.Config, secretName string) {
	t.Helper()
	spec := pod.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]

	http, admin := port(t, c, "http"), port(t, c, "admin")
	if got := listenPort(t, cfg.Server.Listen); got != http || !strings.HasPrefix(cfg.Server.Listen, "0.0.0.0:") {
		t.Errorf("server.listen %s; want 0.0.0.0 and the container port http %d", cfg.Server.Listen, http)
	}
	if got := listenPort(t, cfg.Admin.Listen); got != admin || !strings.HasPrefix(cfg.Admin.Listen, "0.0.0.0:") {
		t.Errorf("admin.listen %s; want 0.0.0.0 and the container port admin %d", cfg.Admin.Listen, admin)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: none, or not httpGet", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "http" || g.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s probe: %s %s on port %s; want HTTP %s on port http (the public listener, which serves it without a token)", p.name, g.Scheme, g.Path, g.Port.String(), p.path)
		}
	}

	// preStop sleeps; SIGTERM then gives -grace to the gateway; the kubelet
	// waits for both and a margin before it kills.
	grace := time.Duration(-1)
	for i, a := range c.Args {
		if a == "-grace" && i+1 < len(c.Args) {
			d, err := time.ParseDuration(c.Args[i+1])
			if err != nil {
				t.Fatalf("-grace %q: %v", c.Args[i+1], err)
			}
			grace = d
		}
	}
	if grace <= 0 {
		t.Fatalf("args %q: no -grace", c.Args)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("no preStop sleep action (the image has no shell for exec sleep)")
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	term := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	if sleep <= 0 || term < sleep+grace+5*time.Second {
		t.Errorf("preStop sleep %s, -grace %s, terminationGracePeriodSeconds %s: want a sleep, and the period at least 5s past both", sleep, grace, term)
	}

	var cfgVol string
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == one[corev1.ConfigMap](t, r).Name {
			cfgVol = v.Name
		}
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.Name == cfgVol && m.MountPath == "/etc/hookgate" && m.SubPath == "" && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the ConfigMap is not mounted read-only as the directory /etc/hookgate (a subPath never sees an update)")
	}
	if !slices.Equal(c.Args[:3], []string{"serve", "-config", "/etc/hookgate/config.yaml"}) {
		t.Errorf("args %q: want serve -config /etc/hookgate/config.yaml ...", c.Args)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != secretName {
		t.Errorf("envFrom %+v: want the Secret %s", c.EnvFrom, secretName)
	}

	ps, sc := spec.SecurityContext, c.SecurityContext
	if ps == nil || sc == nil {
		t.Fatal("no pod or container securityContext")
	}
	uid, gid := imageUser(t)
	if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != uid ||
		ps.RunAsGroup == nil || *ps.RunAsGroup != gid || ps.FSGroup == nil || *ps.FSGroup != gid {
		t.Errorf("pod runAsNonRoot %v runAsUser %v runAsGroup %v fsGroup %v: want true and the Dockerfile's USER %d:%d, the group owning the claim",
			ps.RunAsNonRoot, ps.RunAsUser, ps.RunAsGroup, ps.FSGroup, uid, gid)
	}
	if ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v: want RuntimeDefault", ps.SeccompProfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, every capability dropped", sc)
	}

	// Secrets never reach the ConfigMap.
	cm := one[corev1.ConfigMap](t, r)
	for k, v := range secretsSet {
		if strings.Contains(cm.Data["config.yaml"], v) {
			t.Errorf("the ConfigMap holds the value of %s", k)
		}
	}
}

// env is the environment the Secret gives the pod.
func env(t *testing.T, r rendering) map[string]string {
	t.Helper()
	s := one[corev1.Secret](t, r)
	out := map[string]string{}
	for k, v := range s.StringData {
		out[k] = v
	}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

// TestEmbedded: the defaults run one pod of a StatefulSet on a
// PersistentVolumeClaim mounted where the config puts the store, and no
// PodDisruptionBudget, monitoring object or Deployment.
func TestEmbedded(t *testing.T) {
	r := renderWith(t, withSecrets()...)
	want := []string{"ConfigMap/hookgate", "PersistentVolumeClaim/hookgate-data", "Secret/hookgate",
		"Service/hookgate", "Service/hookgate-admin", "ServiceAccount/hookgate", "StatefulSet/hookgate"}
	if got := r.kinds(); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	e := env(t, r)
	for k, v := range secretsSet {
		if k != "HOOKGATE_REDIS_URL" && e[k] != v {
			t.Errorf("the Secret's %s = %q, want %q", k, e[k], v)
		}
	}
	cfg := gatewayConfig(t, r, e)
	if cfg.Store.Redis != nil || cfg.Store.Path != "/data" {
		t.Errorf("store: path %q redis %v; want the embedded store in /data", cfg.Store.Path, cfg.Store.Redis)
	}
	sts := one[appsv1.StatefulSet](t, r)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet replicas %v, want 1", sts.Spec.Replicas)
	}
	checkPod(t, r, sts.Spec.Template, cfg, "hookgate")
	pvc := one[corev1.PersistentVolumeClaim](t, r)
	var claimed, mounted string
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
			claimed = v.Name
		}
	}
	for _, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == claimed {
			mounted = m.MountPath
		}
	}
	if claimed == "" || mounted != cfg.Store.Path {
		t.Errorf("claim %s mounted at %q; want it at store.path %q", pvc.Name, mounted, cfg.Store.Path)
	}
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the claim is not kept on uninstall: %v", pvc.Annotations)
	}
	if len(sts.Spec.Template.Annotations["checksum/secret"]) != 64 {
		t.Errorf("pod annotations %v: want checksum/secret (the environment is read at start)", sts.Spec.Template.Annotations)
	}

	// A longer shutdown grace reaches -grace, and the termination period
	// grows with it.
	r = renderWith(t, withSecrets("shutdown.graceSeconds=50", "shutdown.preStopSleepSeconds=8")...)
	sts = one[appsv1.StatefulSet](t, r)
	checkPod(t, r, sts.Spec.Template, gatewayConfig(t, r, env(t, r)), "hookgate")
	if args := sts.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "50s") || *sts.Spec.Template.Spec.TerminationGracePeriodSeconds != 8+50+10 {
		t.Errorf("shutdown.graceSeconds=50, preStopSleepSeconds=8: args %q, terminationGracePeriodSeconds %d; want -grace 50s and 68",
			args, *sts.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}

	// An existing claim: none created, that one mounted.
	r = renderWith(t, "store.embedded.existingClaim=mine")
	if n := len(each[corev1.PersistentVolumeClaim](r)); n != 0 {
		t.Errorf("with existingClaim the chart creates %d claims", n)
	}
	if v := one[appsv1.StatefulSet](t, r).Spec.Template.Spec.Volumes; !slices.ContainsFunc(v, func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "mine"
	}) {
		t.Errorf("volumes %+v: want the claim mine", v)
	}
}

// TestRedis: three pods of a Deployment on Redis, no claim, a
// PodDisruptionBudget over the same pods, a ServiceMonitor on the admin
// Service with the token from the Secret, and a PrometheusRule holding
// exactly deploy/prometheus/alerts.yml's rules.
func TestRedis(t *testing.T) {
	r := renderWith(t, withSecrets("store.kind=redis", "replicaCount=3", "store.redis.prefix=hg",
		"monitoring.serviceMonitor.enabled=true", "monitoring.serviceMonitor.labels.release=prom",
		"monitoring.prometheusRule.enabled=true")...)
	want := []string{"ConfigMap/hookgate", "Deployment/hookgate", "PodDisruptionBudget/hookgate",
		"PrometheusRule/hookgate", "Secret/hookgate", "Service/hookgate", "Service/hookgate-admin",
		"ServiceAccount/hookgate", "ServiceMonitor/hookgate"}
	if got := r.kinds(); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	e := env(t, r)
	cfg := gatewayConfig(t, r, e)
	if cfg.Store.Redis == nil || cfg.Store.Redis.URL.Reveal() != secretsSet["HOOKGATE_REDIS_URL"] || cfg.Store.Redis.Prefix != "hg" {
		t.Fatalf("store.redis %+v: want the Secret's HOOKGATE_REDIS_URL and prefix hg", cfg.Store.Redis)
	}
	d := one[appsv1.Deployment](t, r)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas %v, want 3", d.Spec.Replicas)
	}
	checkPod(t, r, d.Spec.Template, cfg, "hookgate")
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("a claim %s with the Redis store", v.PersistentVolumeClaim.ClaimName)
		}
	}

	pdb := one[policyv1.PodDisruptionBudget](t, r)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v: want 1 and none", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selector %v, Deployment's %v: want the same pods", pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	r2 := renderWith(t, "store.kind=redis", "replicaCount=4", "podDisruptionBudget.minAvailable=2")
	if p := one[policyv1.PodDisruptionBudget](t, r2); p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 2 || p.Spec.MaxUnavailable != nil {
		t.Errorf("PDB with minAvailable=2: %+v", p.Spec)
	}

	sm := one[monitoringv1.ServiceMonitor](t, r)
	if sm.Labels["release"] != "prom" || len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor labels %v, %d endpoints: want release=prom and one", sm.Labels, len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	var adminSvc *corev1.Service
	for _, s := range each[corev1.Service](r) {
		if matches(sm.Spec.Selector.MatchLabels, s.Labels) {
			if adminSvc != nil {
				t.Errorf("the ServiceMonitor selects both %s and %s", adminSvc.Name, s.Name)
			}
			adminSvc = s
		}
	}
	if adminSvc == nil || len(adminSvc.Spec.Ports) != 1 || adminSvc.Spec.Ports[0].Name != ep.Port || adminSvc.Spec.Ports[0].TargetPort.String() != "admin" {
		t.Errorf("the ServiceMonitor's port %q is not the admin Service's admin port (%+v)", ep.Port, adminSvc)
	}
	if ep.Path != "/metrics" || ep.Authorization == nil || ep.Authorization.Credentials == nil ||
		ep.Authorization.Credentials.Name != "hookgate" || ep.Authorization.Credentials.Key != "HOOKGATE_ADMIN_TOKEN" {
		t.Errorf("ServiceMonitor endpoint %+v: want /metrics with the Secret's HOOKGATE_ADMIN_TOKEN", ep)
	}

	// The PrometheusRule is the file promtool checks, rule for rule.
	raw, err := os.ReadFile("../../prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		t.Fatalf("deploy/prometheus/alerts.yml as a PrometheusRule spec: %v", err)
	}
	pr := one[monitoringv1.PrometheusRule](t, r)
	if len(file.Groups) == 0 || !reflect.DeepEqual(pr.Spec, file) {
		t.Errorf("the PrometheusRule's spec differs from deploy/prometheus/alerts.yml:\n%+v\n%+v", pr.Spec, file)
	}
	if !strings.Contains(r.text, "{{ $labels.subscriber }}") {
		t.Error("the rules' {{ $labels... }} were templated by Helm; want them passed to Prometheus as written")
	}
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestAlertRulesLinked: the chart's files/alerts.yml is a link to
// deploy/prometheus/alerts.yml, not a copy that could drift from it.
func TestAlertRulesLinked(t *testing.T) {
	p := filepath.Join(chartDir, "files", "alerts.yml")
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("%s: %v; want a symbolic link to deploy/prometheus/alerts.yml", p, err)
	}
	got, _ := filepath.Abs(filepath.Join(filepath.Dir(p), target))
	want, _ := filepath.Abs("../../prometheus/alerts.yml")
	if got != want {
		t.Errorf("%s links to %s, want %s", p, got, want)
	}
}

// TestExistingSecret: with secrets.existingSecret the chart creates no
// Secret, and the pods and the ServiceMonitor read that one.
func TestExistingSecret(t *testing.T) {
	r := renderWith(t, "secrets.existingSecret=hookgate-prod", "store.kind=redis", "replicaCount=2",
		"monitoring.serviceMonitor.enabled=true", "secrets.env.HOOKGATE_ADMIN_TOKEN=ignored-token-0123456789")
	if n := len(each[corev1.Secret](r)); n != 0 {
		t.Errorf("the chart creates %d Secrets beside the existing one", n)
	}
	if strings.Contains(r.text, "ignored-token-0123456789") {
		t.Error("secrets.env is rendered although existingSecret is set")
	}
	d := one[appsv1.Deployment](t, r)
	cfg := gatewayConfig(t, r, secretsSet)
	checkPod(t, r, d.Spec.Template, cfg, "hookgate-prod")
	if _, ok := d.Spec.Template.Annotations["checksum/secret"]; ok {
		t.Error("checksum/secret of a Secret the chart does not render")
	}
	if c := one[monitoringv1.ServiceMonitor](t, r).Spec.Endpoints[0].Authorization.Credentials; c.Name != "hookgate-prod" {
		t.Errorf("ServiceMonitor reads the token from %s, want hookgate-prod", c.Name)
	}
}

// TestRestartChecksum: a change the gateway reloads by itself leaves the
// pod template as it is; a key that needs a restart, or a secret, rolls it.
func TestRestartChecksum(t *testing.T) {
	pod := func(sets ...string) map[string]string {
		return one[appsv1.StatefulSet](t, renderWith(t, sets...)).Spec.Template.Annotations
	}
	base := pod()
	if got := pod("config.log.level=debug"); !reflect.DeepEqual(got, base) {
		t.Errorf("log.level (reloaded) changes the pod template: %v -> %v", base, got)
	}
	for _, set := range []string{"config.log.format=text", "config.store.retention=24h", "secrets.env.CATALOG_SYNC_SECRET=whsec_x"} {
		if got := pod(set); reflect.DeepEqual(got, base) {
			t.Errorf("%s does not change the pod template; the pods would keep the old value", set)
		}
	}
	if got := pod("rollOnConfigChange=true", "config.log.level=debug"); reflect.DeepEqual(got, pod("rollOnConfigChange=true")) {
		t.Error("rollOnConfigChange=true: log.level does not change the pod template")
	}
}

// TestRefused: values the chart cannot run are refused before anything
// renders, each with one line naming the value, and exit 1 from the
// command.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want []string // in the error
	}{
		{[]string{"replicaCount=three"}, []string{"values.schema.json", "replicaCount", "integer"}},
		{[]string{"shutdown.graceSeconds=soon"}, []string{"values.schema.json", "graceSeconds", "integer"}},
		{[]string{"store.kind=etcd"}, []string{"values.schema.json", "kind"}},
		{[]string{"monitoring.serviceMonitor.enabled=maybe"}, []string{"values.schema.json", "enabled", "boolean"}},
		{[]string{"replicaCountt=2"}, []string{"values.schema.json", "replicaCountt"}},
		{[]string{"replicaCount=3"}, []string{"replicaCount: 3 with store.kind=embedded"}},
		{[]string{"config.store.path=/elsewhere"}, []string{"config.store.path"}},
		{[]string{"config.admin.token=x"}, []string{"config.admin.token"}},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			var args []string
			for _, s := range tc.set {
				args = append(args, "-set", s)
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"template", "-chart", chartDir}, args...), &stdout, &stderr)
			msg := stderr.String()
			if code != 1 || stdout.Len() != 0 {
				t.Errorf("exit %d with %d bytes of manifests; want 1 and none", code, stdout.Len())
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("error %q: want one line", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %q", msg, w)
				}
			}
		})
	}
}

// TestCommand: the command prints manifests that decode again, and its
// lint succeeds, as make helm-template and make helm-lint run them.
func TestCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"template", "-chart", chartDir, "-set", "store.kind=redis", "-set", "replicaCount=2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("template: exit %d: %s", code, stderr.String())
	}
	objs, err := decodeAll(map[string]string{"out": stdout.String()})
	if err != nil || len(objs) < 6 {
		t.Errorf("the printed manifests: %d objects, %v", len(objs), err)
	}
	stdout.Reset()
	if code := run([]string{"lint", "-chart", chartDir}, &stdout, &stderr); code != 0 {
		t.Errorf("lint: exit %d: %s", code, stderr.String())
	}
}

// TestStrictDecode: the decoder refuses what a typo in a template would
// make, so that passing it means something.
func TestStrictDecode(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: []}\n",
		"wrong type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: many}\n",
		"unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"duplicate key": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n",
	} {
		if _, err := decodeAll(map[string]string{name: doc}); err == nil {
			t.Errorf("%s: decoded without an error", name)
		} else {
			t.Log(fmt.Sprintf("%s: %v", name, err))
		}
	}
}

// imageUser is the uid and gid of the Dockerfile's last USER.
func imageUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	raw, err := os.ReadFile("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for _, line := range strings.Split(string(raw), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "USER "); ok {
			user = strings.TrimSpace(u)
		}
	}
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.ParseInt(u, 10, 64)
	gid, err2 := strconv.ParseInt(g, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("Dockerfile USER %q: want uid:gid as numbers", user)
	}
	return uid, gid
}
