// Package kubernetes holds Homeplane's Kubernetes manifests (the *.yaml
// files beside this one, applied with kubectl apply -f deploy/kubernetes/).
// It is a module of its own so that the Kubernetes API types its test
// decodes them into stay out of central's dependencies.
package kubernetes
