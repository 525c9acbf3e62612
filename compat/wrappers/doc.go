// Package wrappers holds resgen's wrappers of real interfaces of widely
// used modules (Kubernetes client-go and controller-runtime, etcd, NATS,
// Sarama, the AWS SDK v2, gRPC and its generated stream clients, protobuf,
// the Docker client, Elasticsearch, ClickHouse, MongoDB, OpenTelemetry) and
// of the standard library, generated from resgen.yaml by go generate with
// the generator as a tool of this module (go tool resgen). That they
// compile and vet is the first check; the tests drive the connectors among
// them against fakes that fail with each client's own error values.
package wrappers

//go:generate go tool resgen -config resgen.yaml
