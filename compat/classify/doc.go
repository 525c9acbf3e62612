// Package classify checks that resgen's runtime classifies the errors of
// the clients people use, built as those clients build them: Kubernetes'
// API errors, etcd's, the AWS SDK's and gRPC's. Its tests are the check;
// the package itself holds nothing.
package classify
