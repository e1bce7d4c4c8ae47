// Prints, per served kind, the zero-value object as kube-apiserver's field manager sees it
// (runtime.DefaultUnstructuredConverter), for tools/gen_smd_types.py.
package main

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func main() {
	objs := map[string]runtime.Object{
		"Pod": &corev1.Pod{}, "Service": &corev1.Service{}, "Endpoints": &corev1.Endpoints{},
		"Namespace": &corev1.Namespace{}, "Node": &corev1.Node{}, "Event": &corev1.Event{},
		"Deployment": &appsv1.Deployment{}, "ReplicaSet": &appsv1.ReplicaSet{},
		"EndpointSlice": &discv1.EndpointSlice{}, "Lease": &coordv1.Lease{},
		"ConfigMap": &corev1.ConfigMap{}, "Secret": &corev1.Secret{},
	}
	out := map[string]any{}
	for k, o := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			panic(err)
		}
		out[k] = u
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
