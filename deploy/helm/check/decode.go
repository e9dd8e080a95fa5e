package main

import (
	"fmt"
	"regexp"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is one rendered manifest decoded as its Kubernetes type.
type object struct {
	source string // the template it came from
	kind   string
	name   string
	value  any // *corev1.ConfigMap, *appsv1.StatefulSet, ...
}

// kinds are the types the chart may render, by apiVersion and kind. Any
// other is an error, so a manifest of a kind this check does not know is
// never passed unread.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/PersistentVolumeClaim":                func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/StatefulSet":                     func() any { return new(appsv1.StatefulSet) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll splits every rendered file into its YAML documents and decodes
// each strictly into the type its apiVersion and kind name: an unknown
// field, a duplicate key, a value of the wrong type or an unknown kind is
// an error naming the template.
func decodeAll(out map[string]string) ([]object, error) {
	var objs []object
	for _, source := range sortedManifests(out) {
		for _, doc := range docSep.Split(out[source], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			key := tm.APIVersion + "/" + tm.Kind
			newObj, ok := kinds[key]
			if !ok {
				return nil, fmt.Errorf("%s: apiVersion %q kind %q: not a kind this check knows", source, tm.APIVersion, tm.Kind)
			}
			v := newObj()
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", source, tm.Kind, err)
			}
			var meta struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			_ = yaml.Unmarshal([]byte(doc), &meta)
			if meta.Metadata.Name == "" {
				return nil, fmt.Errorf("%s: %s without metadata.name", source, tm.Kind)
			}
			objs = append(objs, object{source: source, kind: tm.Kind, name: meta.Metadata.Name, value: v})
		}
	}
	return objs, nil
}
